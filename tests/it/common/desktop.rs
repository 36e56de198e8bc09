//! Desktop peers for the source tests: a private X server (Xvfb) with windows of known colour
//! (xterm), and a private PulseAudio with a null sink whose monitor is the default input.
//!
//! Each runs as a child of the test process, on a display number Xvfb picks itself
//! (`-displayfd`) or a socket in the test's own temp dir, and is stopped by its pid.
//! Requires (Debian 12): `xvfb`, `xterm`, `x11-utils`, `x11-xserver-utils` (xrandr),
//! `imagemagick` (display), `openbox`, `pulseaudio`, `pulseaudio-utils`, `libasound2-plugins`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn kill(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return; // already gone
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A private X server: `Xvfb :N -screen 0 WxHx24 -nolisten tcp -br -noreset` (black root
/// window).
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start(width: u32, height: u32) -> Xvfb {
        Self::start_on(None, width, height)
    }

    /// Reached over TCP (`DISPLAY=127.0.0.1:N`), as a remote display is: no shared memory,
    /// no file descriptors passed.
    pub fn start_tcp(width: u32, height: u32) -> Xvfb {
        Self::launch(None, width, height, true)
    }

    /// A display number no server holds, away from the low ones `-displayfd` hands out, so
    /// that a test which stops its server and starts one again on the same number does not
    /// find it taken by a server another test started meanwhile.
    pub fn spare_number() -> u32 {
        let base = 400 + std::process::id() % 400;
        (0..400)
            .map(|k| base + k)
            .find(|n| {
                !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                    && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            })
            .expect("a free X display number")
    }

    /// On display `:n` (`None`: any free one, chosen by Xvfb).
    pub fn start_on(n: Option<u32>, width: u32, height: u32) -> Xvfb {
        Self::launch(n, width, height, false)
    }

    fn launch(n: Option<u32>, width: u32, height: u32, tcp: bool) -> Xvfb {
        let mut cmd = Command::new("Xvfb");
        if let Some(n) = n {
            cmd.arg(format!(":{n}"));
        }
        let mut child = cmd
            .args(["-screen", "0", &format!("{width}x{height}x24")])
            // -noreset: xcap (Wayland's fallback, odd X pixel formats) connects per grab; a
            // server that resets whenever its last client leaves refuses connections while it
            // does.
            .args([if tcp { "-listen" } else { "-nolisten" }, "tcp"])
            .args(["-br", "-noreset", "-displayfd", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (apt-get install xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("Xvfb stdout"))
            .read_line(&mut line)
            .expect("Xvfb display number");
        let number: u32 = line.trim().parse().expect("Xvfb display number");
        Xvfb {
            child,
            display: format!("{}:{number}", if tcp { "127.0.0.1" } else { "" }),
        }
    }

    pub fn number(&self) -> u32 {
        let n = self.display.rsplit(':').next().unwrap_or_default();
        n.parse().expect("display number")
    }

    /// Opens an xterm of colour `bg` at `x,y` with `cols` x `rows` characters and no text,
    /// and waits until it is on screen.
    pub fn window(&self, x: u32, y: u32, cols: u32, rows: u32, bg: &str) -> Xterm {
        self.xterm(x, y, cols, rows, bg, &["sleep", "600"])
    }

    pub fn xterm(&self, x: u32, y: u32, cols: u32, rows: u32, bg: &str, cmd: &[&str]) -> Xterm {
        let title = format!("onair-test-{bg}-{}", std::process::id());
        let child = Command::new("xterm")
            .env("DISPLAY", &self.display)
            .args(["-geometry", &format!("{cols}x{rows}+{x}+{y}")])
            .args([
                "-bg", bg, "-fg", bg, "-cr", bg, "-bd", bg, "-T", &title, "-e",
            ])
            .args(cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start xterm (apt-get install xterm)");
        self.wait_viewable(&title);
        Xterm { child, title }
    }

    /// Runs a window manager (openbox), which lists the windows (`_NET_CLIENT_LIST`) and
    /// frames them; returns once it manages the screen.
    pub fn window_manager(&self) -> Xterm {
        let child = Command::new("openbox")
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openbox (apt-get install openbox)");
        let start = Instant::now();
        loop {
            let out = Command::new("xprop")
                .env("DISPLAY", &self.display)
                .args(["-root", "_NET_SUPPORTING_WM_CHECK"])
                .output()
                .expect("run xprop (apt-get install x11-utils)");
            if String::from_utf8_lossy(&out.stdout).contains("window id") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "openbox did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Xterm {
            child,
            title: String::new(),
        }
    }

    /// Shows an ImageMagick picture (`spec`: a file, or e.g. `gradient:red-blue` with
    /// `size` "300x200") at `x,y`, and waits until it is on screen.
    pub fn picture(&self, x: u32, y: u32, size: &str, spec: &str) -> Xterm {
        let title = format!("onair-test-picture-{}-{x}-{y}", std::process::id());
        let child = Command::new("display")
            .env("DISPLAY", &self.display)
            .args(["-title", &title, "-geometry", &format!("+{x}+{y}")])
            .args(["-size", size, spec])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start display (apt-get install imagemagick)");
        self.wait_viewable(&title);
        Xterm { child, title }
    }

    fn wait_viewable(&self, title: &str) {
        let start = Instant::now();
        loop {
            let out = Command::new("xwininfo")
                .env("DISPLAY", &self.display)
                .args(["-name", title])
                .output()
                .expect("run xwininfo (apt-get install x11-utils)");
            if String::from_utf8_lossy(&out.stdout).contains("IsViewable") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "window {title} did not appear"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The X id of the window titled `title` (`xwininfo -name`).
    pub fn window_id(&self, title: &str) -> u32 {
        let out = Command::new("xwininfo")
            .env("DISPLAY", &self.display)
            .args(["-name", title])
            .output()
            .expect("run xwininfo (apt-get install x11-utils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let hex = text
            .split("Window id: 0x")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no window {title}: {text}"));
        u32::from_str_radix(hex, 16).expect("window id")
    }

    /// Resizes the screen with RandR (`xrandr`; at most the size Xvfb started with), adding
    /// the mode first when the server lacks it.
    pub fn resize(&self, width: u32, height: u32) {
        let xrandr = |args: &[&str]| {
            let out = Command::new("xrandr")
                .env("DISPLAY", &self.display)
                .args(args)
                .output()
                .expect("run xrandr (apt-get install x11-xserver-utils)");
            assert!(
                out.status.success(),
                "xrandr {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let mode = format!("{width}x{height}");
        if !xrandr(&[]).contains(&mode) {
            let (w, h) = (width.to_string(), height.to_string());
            let timings = [
                width + 48,
                width + 152,
                width + 304,
                height + 3,
                height + 8,
                height + 21,
            ]
            .map(|v| v.to_string());
            let [hs, he, ht, vs, ve, vt] = timings.each_ref().map(String::as_str);
            xrandr(&["--newmode", &mode, "48", &w, hs, he, ht, &h, vs, ve, vt]);
            xrandr(&["--addmode", "screen", &mode]);
        }
        xrandr(&["--output", "screen", "--mode", &mode, "--fb", &mode]);
    }

    pub fn stop(&mut self) {
        kill(&mut self.child);
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A client of the X server the test started (an xterm, a picture, the window manager),
/// stopped when dropped.
pub struct Xterm {
    child: Child,
    /// Its window's title (empty for the window manager).
    pub title: String,
}

/// A square window the test paints black or white itself, over its own X connection: the
/// server has changed the screen when [`Flasher::set`] returns (no client of its own to
/// redraw, like an xterm, which takes its time).
#[cfg(target_os = "linux")]
pub struct Flasher {
    conn: x11rb::rust_connection::RustConnection,
    window: u32,
    black: u32,
    white: u32,
}

#[cfg(target_os = "linux")]
impl Flasher {
    /// A black `side` x `side` window at the top-left corner of `x`'s screen, above the rest.
    pub fn new(x: &Xvfb, side: u16) -> Flasher {
        use x11rb::connection::Connection;
        use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};
        use x11rb::wrapper::ConnectionExt as _;
        let (conn, n) = x11rb::connect(Some(&x.display)).expect("connect to Xvfb");
        let screen = conn.setup().roots[n].clone();
        let window = conn.generate_id().expect("window id");
        let aux = CreateWindowAux::new()
            .background_pixel(screen.black_pixel)
            .override_redirect(1);
        conn.create_window(
            0,
            window,
            screen.root,
            0,
            0,
            side,
            side,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &aux,
        )
        .expect("create window");
        conn.map_window(window).expect("map window");
        conn.sync().expect("X sync");
        Flasher {
            conn,
            window,
            black: screen.black_pixel,
            white: screen.white_pixel,
        }
    }

    /// Paints the window white or black; returns once the server has done it.
    pub fn set(&self, white: bool) {
        use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt};
        use x11rb::wrapper::ConnectionExt as _;
        let pixel = if white { self.white } else { self.black };
        let aux = ChangeWindowAttributesAux::new().background_pixel(pixel);
        self.conn
            .change_window_attributes(self.window, &aux)
            .expect("change window");
        self.conn
            .clear_area(false, self.window, 0, 0, 0, 0)
            .expect("clear window");
        self.conn.sync().expect("X sync");
    }
}

impl Drop for Xterm {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A private PulseAudio with a 48 kHz stereo null sink; its monitor is the default source,
/// so ALSA's `default` device (and so cpal's default input) hears what is played into it.
pub struct Pulse {
    child: Child,
    dir: tempfile::TempDir,
}

impl Pulse {
    pub fn start() -> Pulse {
        Self::start_with("")
    }

    /// With a "microphone" fed by the test: `module-pipe-source` reading the fifo
    /// [`Pulse::mic_fifo`] is the default source, so what the test writes there (48 kHz stereo
    /// s16le) reaches recording clients at once, with no buffer of the test's own in between
    /// (unlike a player into the null sink: `pacat` leaves whatever piled up in its stdin pipe
    /// while its stream started, ~300 ms, ahead of every later write). The writer must keep
    /// writing while anything records (a silent source delivers nothing, and a microphone
    /// without callbacks for a second counts as lost).
    pub fn start_with_fifo_microphone() -> Pulse {
        let p = Self::start_with(
            "load-module module-pipe-source source_name=fifomic file={DIR}/mic.fifo \
             format=s16le rate=48000 channels=2\n\
             set-default-source fifomic\n",
        );
        let start = Instant::now();
        while !p.mic_fifo().exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pulseaudio made no fifo"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    /// With a microphone of the sound server's own, `testmic` ("Test-Microphone": a
    /// `module-remap-source` of the null sink's monitor), which hears what is played.
    #[allow(dead_code)] // used by tests/gui_devices.rs and `it`, not by every binary
    pub fn start_with_named_microphone() -> Pulse {
        Self::start_with(
            "load-module module-remap-source source_name=testmic master=nullsink.monitor \
             source_properties=device.description=Test-Microphone\n",
        )
    }

    /// The fifo behind [`Pulse::start_with_fifo_microphone`]'s source.
    pub fn mic_fifo(&self) -> PathBuf {
        self.dir.path().join("mic.fifo")
    }

    fn start_with(extra: &str) -> Pulse {
        let dir = tempfile::Builder::new()
            .prefix("onair-pulse-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        for sub in ["run", "home"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let pa = d.join("test.pa");
        std::fs::write(
            &pa,
            format!(
                "load-module module-native-protocol-unix socket={} auth-anonymous=1\n\
                 load-module module-null-sink sink_name=nullsink rate=48000 channels=2\n\
                 set-default-sink nullsink\n\
                 set-default-source nullsink.monitor\n{}",
                d.join("run/native").display(),
                extra.replace("{DIR}", &d.display().to_string()),
            ),
        )
        .expect("write test.pa");
        let child = Self::spawn(d);
        let p = Pulse { child, dir };
        p.wait_ready();
        p
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while !self.socket().exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pulseaudio did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    fn spawn(d: &Path) -> Child {
        let pa = d.join("test.pa");
        Command::new("pulseaudio")
            .env("HOME", d.join("home"))
            .env("XDG_RUNTIME_DIR", d.join("run"))
            .args([
                "--daemonize=no",
                "--system=false",
                "--exit-idle-time=-1",
                "--disallow-exit=yes",
                "--disable-shm=yes",
                "-n",
                "-F",
            ])
            .arg(&pa)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pulseaudio (apt-get install pulseaudio)")
    }

    /// Kills the sound server (as a crash or a lost device would).
    pub fn kill(&mut self) {
        kill(&mut self.child);
        let _gone = std::fs::remove_file(self.socket());
    }

    /// Starts the sound server again on the same socket, after [`Pulse::kill`].
    pub fn restart(&mut self) {
        self.child = Self::spawn(self.dir.path());
        self.wait_ready();
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/native")
    }

    /// `PULSE_SERVER` for clients.
    pub fn server(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Plays a WAV file into the null sink (`paplay`), in the background.
    pub fn play(&self, wav: &Path) -> Child {
        Command::new("paplay")
            .env("PULSE_SERVER", self.server())
            .args(["--latency-msec=20"])
            .arg(wav)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run paplay (apt-get install pulseaudio-utils)")
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Stops a helper child (paplay, pacat) by pid.
pub fn stop_child(child: &mut Child) {
    kill(child);
}

/// Writes a 48 kHz stereo 16-bit WAV of a sine: `hz`, peak `amplitude`, `seconds` long.
pub fn write_sine_wav(path: &Path, hz: f64, amplitude: f64, seconds: u32) {
    let frames = 48_000 * seconds;
    let mut data = Vec::with_capacity(frames as usize * 4);
    for i in 0..frames {
        let v = (amplitude * (std::f64::consts::TAU * hz * f64::from(i) / 48_000.0).sin()) as i16;
        data.extend_from_slice(&v.to_le_bytes());
        data.extend_from_slice(&v.to_le_bytes());
    }
    let mut f = std::fs::File::create(path).expect("create wav");
    let len = data.len() as u32;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&len.to_le_bytes());
    f.write_all(&h).expect("write wav");
    f.write_all(&data).expect("write wav");
}

/// Amplitude of the `hz` component of `x` (Goertzel), in sample units.
pub fn tone_amplitude(x: &[i16], hz: f64, rate: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / rate;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - c * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

/// One decoded RGB24 video frame at `at_secs` of `path`, as (width, height, pixels).
pub fn rgb_frame_at(path: &Path, at_secs: f64) -> (u32, u32, Vec<u8>) {
    let p = super::probe(path);
    let v = super::stream(&p, "video");
    let (w, h) = (
        v["width"].as_u64().expect("width") as u32,
        v["height"].as_u64().expect("height") as u32,
    );
    let out = super::run_ok(
        Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-ss",
                &format!("{at_secs:.3}"),
                "-i",
            ])
            .arg(path)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]),
    );
    assert_eq!(out.stdout.len(), (w * h * 3) as usize, "one frame");
    (w, h, out.stdout)
}

/// Mean RGB of a rectangle of an RGB24 frame.
pub fn mean_rgb(frame: &(u32, u32, Vec<u8>), x: u32, y: u32, w: u32, h: u32) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for row in y..y + h {
        for col in x..x + w {
            let i = ((row * frame.0 + col) * 3) as usize;
            for (c, s) in sum.iter_mut().enumerate() {
                *s += f64::from(frame.2[i + c]);
            }
        }
    }
    sum.map(|s| s / f64::from(w * h))
}

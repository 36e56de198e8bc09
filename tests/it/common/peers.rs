//! Real network peers for integration tests: a private nginx + RTMP module
//! instance ([`Nginx`]) and a rate-limiting TCP proxy ([`ThrottleProxy`]).
//!
//! Everything listens on `127.0.0.1` on ports picked by [`free_port`]. Each
//! [`Nginx`] lives in its own temp dir (config, logs, pid file, temp paths and
//! recordings), runs in the foreground as a child of the test process, and is
//! only ever signalled by pid. Panics carry the nginx error log so failures
//! are diagnosable from the test output alone.
//!
//! Requires (Debian 12): `nginx`, `libnginx-mod-rtmp`, `libnginx-mod-stream`
//! (TLS only) and `openssl` (TLS only) on the machine.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0,
/// read the port, close). Racy by nature, but fine on a test machine.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("free_port: bind 127.0.0.1:0");
    l.local_addr().expect("free_port: local_addr").port()
}

/// Poll `cond` every 20 ms until it returns true or `timeout` passes.
/// Returns whether the condition became true.
fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// State char and ppid of `pid` from `/proc/PID/stat`, or None if it is gone.
fn proc_state(pid: i32) -> Option<(char, i32)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ..." — comm may contain spaces/parens, so split after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Live (non-zombie) processes whose parent is `ppid`.
fn children_of(ppid: i32) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| matches!(proc_state(pid), Some((st, pp)) if pp == ppid && st != 'Z'))
        .collect()
}

/// True if `pid` no longer exists or is a zombie (zombies hold no sockets).
fn proc_gone(pid: i32) -> bool {
    !matches!(proc_state(pid), Some((st, _)) if st != 'Z')
}

fn signal(pid: i32, sig: i32) {
    // kill(1) rather than libc::kill: the package denies unsafe code, tests included.
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Options for [`Nginx::start`].
#[derive(Debug, Clone, Default)]
pub struct NginxOptions {
    /// Also start a TLS front (nginx `stream` module, self-signed cert for
    /// `localhost`/`127.0.0.1`) that proxies to the RTMP port: an `rtmps://` endpoint.
    pub tls: bool,
}

/// A private nginx with the RTMP module, running in the foreground as a child.
///
/// RTMP applications:
/// * `live` — open publishing, every stream recorded to `DIR/rec/KEY-UNIXTS.flv`.
/// * `auth` — same, but `on_publish` calls back into this nginx's HTTP server,
///   which accepts only stream key `goodkey` (204) and rejects others (403).
///
/// HTTP (`http_port`): `/stat` (rtmp_stat XML), `/on_publish`.
/// Dropping it stops nginx ([`Nginx::stop`]) and deletes the temp dir.
pub struct Nginx {
    // Declared before `dir` so nginx is stopped (in Drop) before the dir is removed.
    child: Option<Child>,
    dir: tempfile::TempDir,
    conf: PathBuf,
    rtmp_port: u16,
    http_port: u16,
    tls_port: Option<u16>,
}

impl Nginx {
    /// Write a config into a fresh temp dir, start `nginx -c CONF -p DIR` and
    /// wait until the RTMP port accepts connections. Panics (with the error
    /// log) if nginx does not come up within 5 s.
    pub fn start(opts: NginxOptions) -> Nginx {
        assert!(
            Path::new(RTMP_MODULE).exists(),
            "missing {RTMP_MODULE}: apt-get install libnginx-mod-rtmp"
        );
        let dir = tempfile::Builder::new()
            .prefix("onair-nginx-")
            .tempdir()
            .expect("create nginx temp dir");
        let d = dir.path().to_path_buf();
        for sub in [
            "rec",
            "tmp",
            "tmp/body",
            "tmp/proxy",
            "tmp/fastcgi",
            "tmp/uwsgi",
            "tmp/scgi",
        ] {
            fs::create_dir_all(d.join(sub)).expect("create nginx sub dir");
        }
        let rtmp_port = free_port();
        let http_port = free_port();
        let tls_port = opts.tls.then(free_port);

        let mut conf = String::new();
        // Our own config: /etc/nginx/modules-enabled is NOT included, so each module is loaded exactly once.
        conf += &format!("load_module {RTMP_MODULE};\n");
        if opts.tls {
            assert!(
                Path::new(STREAM_MODULE).exists(),
                "missing {STREAM_MODULE}: apt-get install libnginx-mod-stream"
            );
            conf += &format!("load_module {STREAM_MODULE};\n");
            make_self_signed_cert(&d);
        }
        let d_s = d.display();
        conf += &format!(
            r#"daemon off;
master_process on;
worker_processes 1;
user root;
pid {d_s}/nginx.pid;
error_log {d_s}/error.log info;
events {{ worker_connections 256; }}
rtmp {{
  server {{
    listen 127.0.0.1:{rtmp_port};
    chunk_size 4096;
    application live {{
      live on;
      record all; record_path {d_s}/rec; record_unique on;
    }}
    application auth {{
      live on;
      record all; record_path {d_s}/rec; record_unique on;
      notify_method get;
      on_publish http://127.0.0.1:{http_port}/on_publish;
    }}
  }}
}}
http {{
  access_log {d_s}/access.log;
  client_body_temp_path {d_s}/tmp/body;
  proxy_temp_path {d_s}/tmp/proxy;
  fastcgi_temp_path {d_s}/tmp/fastcgi;
  uwsgi_temp_path {d_s}/tmp/uwsgi;
  scgi_temp_path {d_s}/tmp/scgi;
  server {{
    listen 127.0.0.1:{http_port};
    location /stat {{ rtmp_stat all; }}
    location = /on_publish {{
      if ($arg_name = "goodkey") {{ return 204; }}
      return 403;
    }}
  }}
}}
"#
        );
        if let Some(tls_port) = tls_port {
            conf += &format!(
                r#"stream {{
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {d_s}/cert.pem;
    ssl_certificate_key {d_s}/key.pem;
    proxy_pass 127.0.0.1:{rtmp_port};
  }}
}}
"#
            );
        }
        let conf_path = d.join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");

        let mut n = Nginx {
            child: None,
            dir,
            conf: conf_path,
            rtmp_port,
            http_port,
            tls_port,
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "nginx already running");
        let d = self.dir.path();
        let log = |name: &str| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(d.join(name))
                .expect("open nginx stdio log")
        };
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&self.conf)
            .arg("-p")
            .arg(d)
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .expect("spawn nginx (is it installed? /usr/sbin/nginx)");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Poll (max 5 s) until the RTMP port (and the TLS port, if any) accept a
    /// TCP connection. Panics with the logs if nginx exited or never listened.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("nginx exited during startup ({status}):\n{}", self.logs());
            }
            if port_accepts(self.rtmp_port) && self.tls_port.is_none_or(port_accepts) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "nginx not accepting on 127.0.0.1:{} after 5 s:\n{}",
                    self.rtmp_port,
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        let d = self.dir.path();
        let rd = |n: &str| fs::read_to_string(d.join(n)).unwrap_or_default();
        format!(
            "--- stderr ---\n{}--- error.log ---\n{}",
            rd("stderr.log"),
            rd("error.log")
        )
    }

    /// The nginx master pid (= our child's pid), if running.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// The temp dir holding config, logs, pid file and `rec/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Plain RTMP port (127.0.0.1).
    pub fn rtmp_port(&self) -> u16 {
        self.rtmp_port
    }

    /// `rtmp://127.0.0.1:PORT/app/key`.
    pub fn rtmp_url(&self, app: &str, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app}/{key}", self.rtmp_port)
    }

    /// `rtmps://localhost:TLSPORT/app/key` (the certificate is valid for
    /// `localhost` and `127.0.0.1`; trust [`Nginx::ca_path`]). Panics without TLS.
    pub fn rtmps_url(&self, app: &str, key: &str) -> String {
        let p = self.tls_port.expect("rtmps_url: nginx started without tls");
        format!("rtmps://localhost:{p}/{app}/{key}")
    }

    /// Self-signed certificate (PEM) of the TLS front; use it as the CA.
    /// Panics without TLS.
    pub fn ca_path(&self) -> PathBuf {
        assert!(
            self.tls_port.is_some(),
            "ca_path: nginx started without tls"
        );
        self.dir.path().join("ca.pem")
    }

    /// Files under `DIR/rec`, oldest modification time first. Survives
    /// [`Nginx::restart`].
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut v: Vec<(SystemTime, PathBuf)> = fs::read_dir(self.dir.path().join("rec"))
            .expect("read rec dir")
            .filter_map(|e| {
                let e = e.ok()?;
                let m = e.metadata().ok()?;
                m.is_file()
                    .then(|| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), e.path()))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, p)| p).collect()
    }

    /// Contents of `DIR/error.log` (level `info`; accumulates across restarts).
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Body of `GET /stat` (nginx-rtmp statistics XML), fetched with a plain
    /// HTTP/1.0 request. Panics on connection errors or non-200.
    pub fn stat_xml(&self) -> String {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.http_port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("stat_xml: connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set_read_timeout");
        s.write_all(b"GET /stat HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("stat_xml: write request");
        let mut resp = String::new();
        s.read_to_string(&mut resp)
            .expect("stat_xml: read response");
        let (head, body) = resp
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("stat_xml: bad response {resp:?}"));
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "stat_xml: {head}"
        );
        body.to_string()
    }

    /// `(application, stream)` pairs currently being published, from `/stat`.
    pub fn publishing_streams(&self) -> Vec<(String, String)> {
        fn name_of(s: &str) -> String {
            s.split_once("<name>")
                .and_then(|(_, r)| r.split_once("</name>"))
                .map(|(n, _)| n.to_string())
                .unwrap_or_default()
        }
        let xml = self.stat_xml();
        let mut out = Vec::new();
        for app in xml.split("<application>").skip(1) {
            let app_name = name_of(app);
            for stream in app.split("<stream>").skip(1) {
                // Stream-level and client-level `<publishing/>` both mean "has a publisher".
                if stream.contains("<publishing/>") {
                    out.push((app_name.clone(), name_of(stream)));
                }
            }
        }
        out
    }

    /// Wait until the last recording is finalized: first until `/stat` lists
    /// no publishing stream (nginx-rtmp closes the record file in the same
    /// event-loop step that drops the publisher), then until the newest file
    /// under `rec/` keeps the same size for 300 ms (belt and braces).
    /// Panics after `timeout`.
    pub fn wait_recording_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        if !poll_until(timeout, || self.publishing_streams().is_empty()) {
            panic!(
                "still publishing after {timeout:?}: {:?}\n{}",
                self.publishing_streams(),
                self.error_log()
            );
        }
        let size = || {
            self.recordings()
                .last()
                .and_then(|p| fs::metadata(p).ok())
                .map(|m| m.len())
        };
        let mut last = size();
        let mut since = Instant::now();
        while since.elapsed() < Duration::from_millis(300) {
            assert!(
                Instant::now() < deadline,
                "recording size still changing after {timeout:?}"
            );
            thread::sleep(Duration::from_millis(50));
            let now = size();
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
    }

    /// Graceful stop: SIGQUIT to the master, wait up to 5 s, then [`Nginx::kill`].
    /// Observed: with a publisher still connected nginx-rtmp does NOT end the
    /// session on SIGQUIT (it keeps receiving and recording), so this takes the
    /// full 5 s and ends in SIGKILL; disconnect publishers first to keep tests
    /// fast (this also applies to Drop). No-op if not running.
    pub fn stop(&mut self) {
        let Some(pid) = self.pid() else { return };
        signal(pid, libc::SIGQUIT);
        let child = self.child.as_mut().expect("child");
        if poll_until(Duration::from_secs(5), || {
            matches!(child.try_wait(), Ok(Some(_)))
        }) {
            self.child = None;
            // Workers exit before the master on QUIT; make sure anyway.
            poll_until(Duration::from_secs(2), || children_of(pid).is_empty());
        } else {
            self.kill();
        }
    }

    /// Hard kill: SIGKILL the master and its workers (found via `/proc/*/stat`
    /// ppid), then wait until they are gone and the listening ports are freed.
    /// Simulates a server crash. No-op if not running. The killed worker is
    /// orphaned and stays a zombie if PID 1 does not reap (harmless: no sockets).
    pub fn kill(&mut self) {
        let Some(pid) = self.pid() else { return };
        // Stop the master first so it cannot respawn workers, then kill everything.
        signal(pid, libc::SIGSTOP);
        let workers = children_of(pid);
        signal(pid, libc::SIGKILL);
        for &w in &workers {
            signal(w, libc::SIGKILL);
        }
        let mut child = self.child.take().expect("child");
        let _ = child.wait();
        // Orphaned workers may linger as zombies if PID 1 does not reap; zombies hold no sockets.
        assert!(
            poll_until(Duration::from_secs(5), || workers
                .iter()
                .all(|&w| proc_gone(w))),
            "nginx workers {workers:?} survived SIGKILL"
        );
    }

    /// Start nginx again on the same ports and the same dir (config, logs and
    /// old recordings are kept). Stops it first if it is still running.
    pub fn restart(&mut self) {
        self.stop();
        // Listening sockets use SO_REUSEADDR, but wait for the kernel to drop them anyway.
        poll_until(Duration::from_secs(5), || !port_accepts(self.rtmp_port));
        self.spawn();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private PKI, as a self-hosted server would have: a CA (`ca.pem`) and a server certificate
/// for localhost signed by it (`cert.pem`, `key.pem`). A single self-signed certificate would
/// not do: it is a CA certificate, which strict clients (webpki) refuse as a server's own.
fn make_self_signed_cert(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl (apt-get install -y openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=onair test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    fs::write(dir.join("server.ext"), "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
        .expect("write server.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
}

// ---------------------------------------------------------------------------
// ThrottleProxy
// ---------------------------------------------------------------------------

const UNLIMITED: u64 = u64::MAX;
const TICK: Duration = Duration::from_millis(10);
const IO_TIMEOUT: Duration = Duration::from_millis(50);
const CHUNK: usize = 4096;

struct Shared {
    target: SocketAddr,
    rate: Arc<AtomicU64>,
    shutdown: AtomicBool,
    up: AtomicU64,
    down: AtomicU64,
    accepted: AtomicU64,
    streams: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// TCP proxy on `127.0.0.1:free_port` forwarding every accepted connection to
/// `target`. Client→server bytes are rate-limited by a token bucket (refilled
/// every ~10 ms, burst = 50 ms worth, written in ≤4 KiB chunks);
/// server→client is unthrottled. A rate of `Some(0)` stalls the upload
/// completely (the client sees TCP back-pressure), `None` is unlimited.
///
/// Threads are named `throttle-accept`, `throttle-up-N`, `throttle-down-N`.
/// Dropping the proxy closes the listener and all connections and joins all
/// threads (bounded: every loop wakes at least every 50 ms).
pub struct ThrottleProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl ThrottleProxy {
    /// Start a proxy to `target`, upload limited to `rate` bytes/s (`None` = unlimited).
    pub fn start(target: SocketAddr, rate: Option<u64>) -> ThrottleProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("ThrottleProxy: bind");
        listener
            .set_nonblocking(true)
            .expect("ThrottleProxy: set_nonblocking");
        let addr = listener.local_addr().expect("ThrottleProxy: local_addr");
        let shared = Arc::new(Shared {
            target,
            rate: Arc::new(AtomicU64::new(rate.unwrap_or(UNLIMITED))),
            shutdown: AtomicBool::new(false),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            streams: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let accept_thread = thread::Builder::new()
            .name("throttle-accept".into())
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn throttle-accept");
        ThrottleProxy {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// Port clients should connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Change the upload limit for all current and future connections
    /// (bytes/s; `None` = unlimited). Takes effect within ~10 ms.
    pub fn set_rate(&self, rate: Option<u64>) {
        self.shared
            .rate
            .store(rate.unwrap_or(UNLIMITED), Ordering::SeqCst);
    }

    /// Abruptly close every current connection (both sides see EOF/reset);
    /// the proxy keeps accepting new ones. Simulates a network drop.
    pub fn drop_connections(&self) {
        for s in self.shared.streams.lock().expect("streams lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for ThrottleProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        self.drop_connections();
        let threads: Vec<_> = self
            .shared
            .threads
            .lock()
            .expect("threads lock")
            .drain(..)
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    let mut n = 0u64;
    while !sh.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                n += 1;
                sh.accepted.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = start_conn(&sh, client, n) {
                    eprintln!("ThrottleProxy: connection {n} to {}: {e}", sh.target);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(TICK),
            Err(e) => {
                eprintln!("ThrottleProxy: accept: {e}");
                thread::sleep(TICK);
            }
        }
    }
    // Listener dropped here: new connects are refused.
}

fn start_conn(sh: &Arc<Shared>, client: TcpStream, n: u64) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    // A small receive buffer, like a slow link's: the throttle shows up at the sender quickly
    // instead of after the kernel has soaked up megabytes.
    socket2::SockRef::from(&client).set_recv_buffer_size(16 * 1024)?;
    let server = TcpStream::connect_timeout(&sh.target, Duration::from_secs(2))?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    {
        let mut streams = sh.streams.lock().expect("streams lock");
        streams.push(client.try_clone()?);
        streams.push(server.try_clone()?);
    }
    let (c2, s2) = (client.try_clone()?, server.try_clone()?);
    let sh_up = sh.clone();
    let up = thread::Builder::new()
        .name(format!("throttle-up-{n}"))
        .spawn(move || pump(client, server, &sh_up, true))?;
    let sh_down = sh.clone();
    let down = thread::Builder::new()
        .name(format!("throttle-down-{n}"))
        .spawn(move || pump(s2, c2, &sh_down, false))?;
    let mut threads = sh.threads.lock().expect("threads lock");
    threads.retain(|t| !t.is_finished());
    threads.push(up);
    threads.push(down);
    Ok(())
}

/// Copy `from` → `to` until EOF, error or shutdown; throttled if `throttled`.
fn pump(mut from: TcpStream, mut to: TcpStream, sh: &Shared, throttled: bool) {
    let counter = if throttled { &sh.up } else { &sh.down };
    let mut buf = vec![0u8; CHUNK];
    let mut tokens = 0f64;
    let mut last = Instant::now();
    let mut last_rate = UNLIMITED;
    'outer: while !sh.shutdown.load(Ordering::SeqCst) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        let mut off = 0;
        while off < n {
            if sh.shutdown.load(Ordering::SeqCst) {
                break 'outer;
            }
            let mut len = n - off;
            let rate = if throttled {
                sh.rate.load(Ordering::SeqCst)
            } else {
                UNLIMITED
            };
            if rate != UNLIMITED {
                let now = Instant::now();
                if last_rate == UNLIMITED || rate != last_rate {
                    // (Re)entering limited mode: start with an empty bucket.
                    tokens = 0.0;
                    last = now;
                }
                let cap = (rate as f64 / 20.0).max(1.0);
                tokens = (tokens + rate as f64 * now.duration_since(last).as_secs_f64()).min(cap);
                last = now;
                if tokens < 1.0 {
                    last_rate = rate;
                    thread::sleep(TICK);
                    continue;
                }
                len = len.min(tokens as usize);
            }
            last_rate = rate;
            match to.write(&buf[off..off + len]) {
                Ok(0) => break 'outer,
                Ok(w) => {
                    off += w;
                    counter.fetch_add(w as u64, Ordering::SeqCst);
                    if rate != UNLIMITED {
                        tokens -= w as f64;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => break 'outer,
            }
        }
    }
    // Propagate EOF (half-close) to the other side; the opposite pump ends on its own.
    let _ = to.shutdown(Shutdown::Write);
}

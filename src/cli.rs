//! The command line. Validates everything before the engine starts, so that a bad flag, an
//! unknown preset or an unwritable path is one line on stderr and a non-zero exit.
//! Here: the flags and their parsers; each command runs in a file of its own.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};

use onair::app::keystore::{KeyStore, KeyringUse};
use onair::app::settings::Keys;
use onair::capture::{CameraTarget, Corner, PipLayout, ScreenTarget, VideoSourceKind};
use onair::config::mixer::{MixerSettings, SourceKind, SourceSettings};
use onair::config::{Config, DEFAULT_PRESET, StoredKeyDestination};
use onair::encode::VideoTuning;
use onair::media::MediaTime;
use onair::output::OutputSpec;
use onair::output::hls::DEFAULT_SERVE_ADDR;
use onair::output::whip::{WhipOptions, WhipTarget};

#[derive(Parser)]
#[command(
    name = "onair",
    version = env!("ONAIR_VERSION"),
    about = "Capture, encode once, record and stream.",
    long_about = "Capture, encode once, record and stream.\n\n\
        With no arguments, onair opens its window (go live, record, preview in the browser, \
        presets, stats). The subcommands run the same engine headless.",
    after_help = "Run `onair` with no command to open the window."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Capture, encode and send to every output until --duration, Ctrl-C or SIGTERM.
    Broadcast(Box<BroadcastArgs>),
    /// Measure: the whole pipeline as fast as it goes for N frames, and the encoder alone on
    /// the same frames; prints JSON.
    Bench(Box<BenchArgs>),
    /// List the screens, windows, cameras, microphones, desktop audio and outputs, with the
    /// ids --video and --audio (and the mixer's monitor_device) take.
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the scenes (from the config file's [[scenes]], else the built-in ones) and their
    /// layers.
    Scenes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Config file (default: the platform's config directory).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the bitrate presets (built-in and from the config file).
    Presets {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Config file with user presets (default: the platform's config directory).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `--video`: test, none, screen[:N], window:ID|TITLE, camera[:N|NAME], or a screen (or
/// window) plus a camera: `screen:0+camera:1`, or y4m:FILE.
fn parse_video(s: &str) -> Result<VideoSourceKind, String> {
    fn screen(s: &str) -> Option<Result<ScreenTarget, String>> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "screen" if arg.is_empty() => Some(Ok(ScreenTarget::Monitor(0))),
            "screen" => Some(
                arg.parse()
                    .map(ScreenTarget::Monitor)
                    .map_err(|_| format!("`{arg}` is not a screen number (see `onair devices`)")),
            ),
            "window" if arg.is_empty() => {
                Some(Err("window needs an id or a title: window:ID|TITLE".into()))
            }
            "window" => Some(Ok(ScreenTarget::Window(arg.to_owned()))),
            _ => None,
        }
    }
    fn camera(s: &str) -> Option<CameraTarget> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        (kind == "camera").then(|| match arg.parse() {
            _ if arg.is_empty() => CameraTarget::Index(0),
            Ok(n) => CameraTarget::Index(n),
            Err(_) => CameraTarget::Name(arg.to_owned()),
        })
    }
    let bad = || {
        format!(
            "`{s}` is not a video source: use test, none, screen[:N], window:ID|TITLE, \
             camera[:N|NAME], screen[:N]+camera[:N|NAME] or y4m:FILE"
        )
    };
    match s {
        "test" => return Ok(VideoSourceKind::Test),
        "none" => return Ok(VideoSourceKind::None),
        _ => {}
    }
    if let Some(path) = s.strip_prefix("y4m:") {
        if path.is_empty() {
            return Err("y4m needs a file: y4m:FILE".into());
        }
        return Ok(VideoSourceKind::Y4m(PathBuf::from(path)));
    }
    if let Some((a, b)) = s.split_once('+') {
        let scr = screen(a).ok_or_else(bad)??;
        let cam = camera(b).ok_or_else(bad)?;
        return Ok(VideoSourceKind::ScreenWithCamera {
            screen: scr,
            camera: cam,
            pip: PipLayout::default(),
        });
    }
    if let Some(scr) = screen(s) {
        return scr.map(VideoSourceKind::Screen);
    }
    camera(s).map(VideoSourceKind::Camera).ok_or_else(bad)
}

/// `--audio`'s sources, in order.
#[derive(Debug, Clone, PartialEq)]
struct AudioList(Vec<AudioItem>);

/// One source of `--audio`: its kind, its device (empty: the default) and its fader.
#[derive(Debug, Clone, PartialEq)]
struct AudioItem {
    kind: SourceKind,
    device: String,
    gain_db: Option<f32>,
}

/// `--audio`: a comma-separated list of tone, mic[:NAME], desktop[:NAME], each optionally
/// followed by @GAIN_DB (`mic,desktop@-10,tone@-20`); `none` for no audio; `mic+tone` (the
/// older form) is `mic,tone`.
fn parse_audio(s: &str) -> Result<AudioList, String> {
    let usage = "use tone, mic[:NAME], desktop[:NAME] or none, each optionally with @GAIN_DB, \
                 comma-separated (e.g. mic,desktop@-10,tone@-20)";
    if s.trim() == "none" {
        return Ok(AudioList(Vec::new()));
    }
    let mut items = Vec::new();
    for part in s.split([',', '+']) {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("`{s}` has an empty source; {usage}"));
        }
        // `@GAIN` ends the item when what follows the last @ is a number.
        let (source, gain_db) = match part.rsplit_once('@') {
            Some((src, gain)) => {
                let db: f32 = gain.trim().parse().map_err(|_| {
                    format!("`{gain}` in `{part}` is not a gain in dB like -10 or 3.5")
                })?;
                if !db.is_finite() || !(-100.0..=26.0).contains(&db) {
                    return Err(format!(
                        "the gain {gain} dB in `{part}` must be between -100 and 26"
                    ));
                }
                (src, Some(db))
            }
            None => (part, None),
        };
        let (kind, device) = source.split_once(':').unwrap_or((source, ""));
        let kind = match kind {
            "tone" if device.is_empty() => SourceKind::Tone,
            "mic" => SourceKind::Microphone,
            "desktop" => SourceKind::Desktop,
            "none" => return Err(format!("`none` cannot be mixed with sources in `{s}`")),
            _ => return Err(format!("`{part}` is not an audio source: {usage}")),
        };
        items.push(AudioItem {
            kind,
            device: device.to_owned(),
            gain_db,
        });
    }
    Ok(AudioList(items))
}

/// `onair bench --audio`: tone (true) or none.
fn parse_bench_audio(s: &str) -> Result<bool, String> {
    match s {
        "tone" => Ok(true),
        "none" => Ok(false),
        _ => Err(format!(
            "`{s}` cannot be benchmarked: use tone or none (live devices cannot run faster \
             than real time)"
        )),
    }
}

/// The mixer for a broadcast: the config file's `[mixer]`, with `--audio`'s sources when given
/// (a source the file has, by kind and device, keeps its settings: filters, offset...), the
/// microphones' gain and mute from `--mic-gain` and `--mute`.
fn mixer_settings(
    config: Option<&MixerSettings>,
    audio: Option<&[AudioItem]>,
    mic_gain_db: Option<f32>,
    mute: bool,
) -> Result<MixerSettings, String> {
    let mut mixer = config.cloned().unwrap_or_default();
    let from_config = config.is_some_and(|m| !m.sources.is_empty());
    let items = match audio {
        Some(items) => Some(items.to_vec()),
        None if from_config => None,
        None => Some(vec![AudioItem {
            kind: SourceKind::Tone,
            device: String::new(),
            gain_db: None,
        }]),
    };
    if let Some(items) = items {
        let known = std::mem::take(&mut mixer.sources);
        for item in items {
            let mut source = match known
                .iter()
                .find(|k| k.kind == item.kind && k.device == item.device)
                .filter(|k| mixer.source(&k.name).is_none())
            {
                Some(k) => k.clone(),
                None => {
                    let base = match (item.kind, item.device.as_str()) {
                        (SourceKind::Microphone, "") => "Mic".to_owned(),
                        (SourceKind::Microphone, d) => format!("Mic ({d})"),
                        (SourceKind::Desktop, "") => "Desktop Audio".to_owned(),
                        (SourceKind::Desktop, d) => format!("Desktop Audio ({d})"),
                        _ => "Tone".to_owned(),
                    };
                    SourceSettings::new(mixer.free_name(&base), item.kind, item.device.clone())
                }
            };
            if let Some(db) = item.gain_db {
                source.volume_db = db;
            } else if let (Some(db), SourceKind::Microphone) = (mic_gain_db, item.kind) {
                source.volume_db = db;
            }
            mixer.sources.push(source);
        }
    } else if let Some(db) = mic_gain_db {
        for s in mixer
            .sources
            .iter_mut()
            .filter(|s| s.kind == SourceKind::Microphone)
        {
            s.volume_db = db;
        }
    }
    if mute {
        for s in mixer
            .sources
            .iter_mut()
            .filter(|s| s.kind == SourceKind::Microphone)
        {
            s.muted = true;
        }
    }
    mixer.validate().map_err(|e| format!("--audio: {e}"))?;
    Ok(mixer)
}

/// `--pip CORNER[:PERCENT]`, e.g. `bottom-right:25`.
fn parse_pip(s: &str) -> Result<PipLayout, String> {
    let (corner, pct) = s.split_once(':').unwrap_or((s, "25"));
    let corner = match corner {
        "top-left" => Corner::TopLeft,
        "top-right" => Corner::TopRight,
        "bottom-left" => Corner::BottomLeft,
        "bottom-right" => Corner::BottomRight,
        _ => {
            return Err(format!(
                "`{corner}` is not a corner: top-left, top-right, bottom-left or bottom-right"
            ));
        }
    };
    let width_percent: u8 = pct
        .parse()
        .ok()
        .filter(|p| (5..=100).contains(p))
        .ok_or_else(|| format!("`{pct}` is not a width in percent from 5 to 100"))?;
    Ok(PipLayout {
        corner,
        width_percent,
    })
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Video source: the test pattern, or y4m:FILE (8-bit 4:2:0 at the preset's size, looped).
    #[arg(long, value_name = "test|y4m:FILE", default_value = "test", value_parser = parse_video)]
    video: VideoSourceKind,
    /// tone or none (live devices cannot run faster than real time).
    // A bool field is a flag to clap unless told it takes a value.
    #[arg(long, value_name = "tone|none", default_value = "tone", value_parser = parse_bench_audio,
          action = clap::ArgAction::Set)]
    audio: bool,
    /// Bitrate preset (see `onair presets`).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_PRESET)]
    preset: String,
    /// Frames to encode (default: 600, or every frame of a Y4M file).
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Outputs, comma-separated: record (MP4 file), flv (FLV muxer into nothing), hls (folder).
    #[arg(
        long,
        value_name = "LIST",
        value_enum,
        value_delimiter = ',',
        default_value = "record,flv,hls"
    )]
    outputs: Vec<OutputArg>,
    /// Folder for the recording and the HLS files (default: a new temporary folder, removed
    /// afterwards). Must not exist yet or be empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// OpenH264 threads (slices per frame), 1-8 [default: automatic, 2 above 1080p30's pixel
    /// rate (e.g. 1080p60, which then also gets effort=low,bgd=off); 1 otherwise].
    #[arg(long, value_name = "N")]
    encoder_threads: Option<u16>,
    /// Skip the encoder-alone run (no ratio): time only the pipeline, e.g. to compare whole
    /// processes with other tools.
    #[arg(long)]
    pipeline_only: bool,
    /// Rounds of (encoder alone, pipeline), alternated; the fastest of each is reported (the
    /// least disturbed by other work on the machine); every round's rate is listed too.
    #[arg(long, value_name = "N", default_value_t = 1)]
    rounds: u32,
    /// Config file with user presets (default: the platform's config directory).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also record the stream as FLV and judge it against the source: mean and highest 2 s
    /// bitrate, PSNR-Y (mean, 5th percentile), SSIM (decoded in-process).
    #[arg(long)]
    quality: bool,
    /// Encoder settings to try, KEY=VALUE,... over the automatic ones (above 1080p30's pixel
    /// rate effort=low,bgd=off, else effort=medium,bgd=on): profile=baseline|main|high,
    /// content=camera|screen, effort=low|medium|high, refs=1-16, ltr=on|off, bgd=on|off,
    /// deblock=on|off, rc=window|openh264; `before` first for the settings
    /// before the quality work.
    #[arg(long, value_name = "SETTINGS", value_parser = parse_tuning)]
    tune: Option<String>,
}

/// Checks `--tune` (applied over the automatic settings once the preset is known).
fn parse_tuning(s: &str) -> Result<String, String> {
    s.parse::<VideoTuning>().map(|_| s.to_owned())
}

/// `--encoder-threads` (1-8), or the automatic choice for the preset's pixel rate.
fn encoder_threads(arg: Option<u16>, preset: &onair::config::Preset) -> anyhow::Result<u16> {
    match arg {
        Some(n @ 1..=8) => Ok(n),
        Some(_) => bail!("--encoder-threads must be between 1 and 8"),
        None => Ok(
            onair::encode::EncoderLoad::for_rate(preset.width, preset.height, preset.fps).threads,
        ),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputArg {
    Record,
    Flv,
    Hls,
}

#[derive(clap::Args)]
struct BroadcastArgs {
    /// test, none, screen[:N], window:ID|TITLE, camera[:N|NAME], screen[:N]+camera[:N|NAME]
    /// (the camera over the screen; see --pip), or y4m:FILE (8-bit 4:2:0 at the preset's size,
    /// played in real time, looped). Ids from `onair devices`.
    /// Default: the config file's scene on the window's program (`[program] scene`) or its
    /// first, if it has [[scenes]]; else test.
    #[arg(long, value_name = "SOURCE", value_parser = parse_video, conflicts_with = "scene")]
    video: Option<VideoSourceKind>,
    /// Start on this scene (from the config file's [[scenes]], else the built-in test,
    /// screen, camera, screen+camera; `onair scenes` lists them). While running, a line on
    /// standard input switches: `scene NAME` (the configured transition), `cut NAME`, or
    /// `fade MS NAME`.
    #[arg(long, value_name = "NAME")]
    scene: Option<String>,
    /// Audio sources, comma-separated: tone, mic[:NAME] (the default input, or the input whose
    /// name contains NAME), desktop[:NAME] (what the default output plays, or the output
    /// NAME), each optionally with @GAIN_DB (e.g. mic,desktop@-10,tone@-20); or none. Default:
    /// the config file's [mixer], else tone.
    #[arg(long, value_name = "LIST", value_parser = parse_audio)]
    audio: Option<AudioList>,
    /// Where the camera goes over the screen, and its width in percent of the picture.
    #[arg(long, value_name = "CORNER[:PERCENT]", default_value = "bottom-right:25", value_parser = parse_pip)]
    pip: PipLayout,
    /// The microphones' fader in dB (those not given @GAIN_DB in --audio).
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    mic_gain: Option<f32>,
    /// Start with the microphones muted.
    #[arg(long)]
    mute: bool,
    /// Bitrate preset (see `onair presets`; default: the window's, `[program] preset` in the
    /// config file, else 720p30).
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Record to FILE (.mp4 or .flv); repeat for several files. Never replaces a file.
    #[arg(long, value_name = "FILE")]
    record: Vec<PathBuf>,
    /// Go live to rtmp[s]://host[:port]/app/streamkey, or to a destination named in the config
    /// file; repeat for several destinations (all from the one encode).
    #[arg(long, value_name = "URL|NAME")]
    rtmp: Vec<String>,
    /// Extra CA certificate (PEM) to trust for rtmps:// servers with a private certificate.
    #[arg(long, value_name = "FILE")]
    rtmp_ca: Option<PathBuf>,
    /// Go live over WebRTC to a WHIP endpoint, http[s]://host[:port]/path, or to a WHIP
    /// destination named in the config file; repeat for several (all from the one encode).
    #[arg(long, value_name = "URL|NAME")]
    whip: Vec<String>,
    /// Bearer token for a --whip URL: one per --whip URL, in the same order (a config
    /// destination has its own `token`). Better kept in the config file: a command line is
    /// visible to other users of the machine.
    #[arg(long, value_name = "TOKEN")]
    whip_token: Vec<String>,
    /// Lower the video bitrate when a destination's link cannot carry it, and step it back
    /// up when it can (OBS's dynamic bitrate).
    #[arg(long)]
    dynamic_bitrate: bool,
    /// Write a low-latency HLS stream (CMAF parts, live playlist `live.m3u8`) into DIR, created
    /// if needed; it must be empty or hold only an earlier run's HLS files.
    #[arg(long, value_name = "DIR")]
    hls: Option<PathBuf>,
    /// Whole segments the HLS playlist lists (at least 6).
    #[arg(long, value_name = "N", default_value_t = 6, requires = "hls")]
    hls_window: usize,
    /// Serve the HLS folder and a player page over HTTP on ADDR (PORT, HOST:PORT or IP:PORT;
    /// default 127.0.0.1:8787, this machine only). Needs --hls.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_SERVE_ADDR,
          requires = "hls", value_parser = parse_serve_addr)]
    serve: Option<SocketAddr>,
    /// Stop after this many seconds of media time (e.g. 10 or 2.5).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    duration: Option<MediaTime>,
    /// Write one JSON object per second to FILE, or to standard output with `-`.
    #[arg(long, value_name = "FILE|-")]
    stats: Option<String>,
    /// Config file with user presets (default: the platform's config directory).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// OpenH264 threads (slices per frame), 1-8 [default: automatic, 2 above 1080p30's pixel
    /// rate (e.g. 1080p60, which then also gets effort=low,bgd=off); 1 otherwise].
    #[arg(long, value_name = "N")]
    encoder_threads: Option<u16>,
}

/// Parses `8787`, `127.0.0.1:8787`, `[::1]:8787` or `localhost:8787`.
fn parse_serve_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("`{s}` is not an address like 8787, 127.0.0.1:8787 or [::1]:8787"))
}

/// The longest `--duration`: 10 years (engine time is i64 nanoseconds: 292 years).
const MAX_DURATION_S: i64 = 10 * 366 * 24 * 3600;

/// Parses `10`, `2.5` or `0.040` seconds into engine time, exactly (no floating point).
fn parse_seconds(s: &str) -> Result<MediaTime, String> {
    let bad = || format!("`{s}` is not a number of seconds like 10 or 2.5");
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 9 {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    if whole > MAX_DURATION_S {
        return Err(format!(
            "`{s}` seconds is more than 10 years; leave --duration out to run until stopped"
        ));
    }
    let frac_nanos: i64 = if frac.is_empty() {
        0
    } else {
        let digits: i64 = frac.parse().map_err(|_| bad())?;
        digits * 10i64.pow(9 - frac.len() as u32)
    };
    if whole < 0 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let t = MediaTime::from_secs(whole) + MediaTime::from_nanos(frac_nanos);
    if t <= MediaTime::ZERO {
        return Err("the duration must be more than 0 seconds".into());
    }
    Ok(t)
}

pub fn main() -> ExitCode {
    // The parser also knows the hidden `generate-files`; the pages made from `Cli` do not.
    let matches = Cli::command()
        .subcommand(crate::generate::command())
        .get_matches();
    let result = if let Some((crate::generate::NAME, args)) = matches.subcommand() {
        crate::generate::files(Cli::command(), args)
    } else {
        match Cli::from_arg_matches(&matches)
            .unwrap_or_else(|e| e.exit())
            .command
        {
            Command::Broadcast(args) => broadcast(*args),
            Command::Bench(args) => bench(*args),
            Command::Presets { json, config } => presets(json, config),
            Command::Scenes { json, config } => Config::load(config.as_deref())
                .map_err(anyhow::Error::from)
                .and_then(|c| {
                    let preset = c.preset_or_program(None)?.clone();
                    crate::scenes_cli::list(json, &c, &preset)
                }),
            Command::Devices { json } => devices(json),
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

mod bench;
mod broadcast;
mod destinations;
mod lists;
#[cfg(test)]
mod tests;

use bench::bench;
use broadcast::broadcast;
use lists::{devices, presets};

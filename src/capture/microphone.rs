//! Audio inputs through cpal: microphones (any format, rate and channel count), and on
//! Windows and macOS desktop audio too (cpal records an output device in loopback: WASAPI
//! loopback, and CoreAudio's process tap on macOS 14.6 and later; built but untested here).
//! Each device feeds an [`audio_ring`](super::audio_ring) ring from cpal's callback; the device
//! lives on a thread of the pipeline's (`cap-mic`, `cap-desktop`): it opens the stream,
//! notices a loss (error callback, or no callback for a second) and reopens every 2 s.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use crossbeam_channel::bounded;

use super::audio_ring::{RingSource, Shared, push_frames};
use super::{CaptureError, MicTarget, REOPEN_INTERVAL, Worker, sleep_unless};

/// The device period asked for: 10 ms (less latency, smaller bursts); the device may refuse.
const PERIOD_MS: u32 = 10;

/// Which cpal device: an input, or (Windows, macOS) an output recorded in loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CpalTarget {
    Input(MicTarget),
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    Loopback(MicTarget),
}

impl CpalTarget {
    fn kind(&self) -> &'static str {
        match self {
            CpalTarget::Input(_) => "microphone",
            CpalTarget::Loopback(_) => "desktop audio",
        }
    }
}

pub(crate) fn map_err(kind: &'static str, name: &str, e: &cpal::Error) -> CaptureError {
    let detail = e.to_string();
    match e.kind() {
        cpal::ErrorKind::PermissionDenied => CaptureError::PermissionDenied {
            kind,
            name: name.to_owned(),
            detail,
        },
        cpal::ErrorKind::HostUnavailable | cpal::ErrorKind::DeviceNotAvailable => {
            CaptureError::NoSoundServer { detail }
        }
        _ => CaptureError::Open {
            kind,
            name: name.to_owned(),
            detail,
        },
    }
}

/// alsa-lib writes its complaints (no card, unknown PCM) to stderr; on this thread, keep them
/// in a buffer instead, and log them at debug level when dropped.
pub(crate) struct QuietAlsa {
    #[cfg(target_os = "linux")]
    buffer: Option<std::rc::Rc<std::cell::RefCell<alsa::Output>>>,
}

impl QuietAlsa {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            buffer: alsa::Output::local_error_handler().ok(),
        }
    }
}

impl Drop for QuietAlsa {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(b) = &self.buffer {
            let text = b.borrow().to_string();
            if !text.is_empty() {
                tracing::debug!("alsa-lib: {}", text.trim());
            }
        }
    }
}

/// The input devices: (id, name) for `onair devices`.
pub fn list() -> Result<Vec<(String, String)>, CaptureError> {
    let _quiet = QuietAlsa::new();
    let host = cpal::default_host();
    let devices = host
        .input_devices()
        .map_err(|e| map_err("microphone", "any", &e))?;
    Ok(devices.map(|d| id_and_name(&d)).collect())
}

/// The output devices (monitoring; desktop audio on Windows and macOS): (id, name).
pub fn list_outputs() -> Result<Vec<(String, String)>, CaptureError> {
    let _quiet = QuietAlsa::new();
    let host = cpal::default_host();
    let devices = host
        .output_devices()
        .map_err(|e| map_err("audio output", "any", &e))?;
    Ok(devices.map(|d| id_and_name(&d)).collect())
}

fn id_and_name(d: &cpal::Device) -> (String, String) {
    let id = d.id().map(|i| i.to_string()).unwrap_or_default();
    (id, d.to_string())
}

fn find(target: &CpalTarget) -> Result<cpal::Device, CaptureError> {
    let host = cpal::default_host();
    let kind = target.kind();
    let (loopback, wanted) = match target {
        CpalTarget::Input(t) => (false, t),
        CpalTarget::Loopback(t) => (true, t),
    };
    match wanted {
        MicTarget::Default => {
            let device = if loopback {
                host.default_output_device()
            } else {
                host.default_input_device()
            };
            device.ok_or(CaptureError::NoDevice {
                kind,
                hint: " (no default audio device; is a sound server running?)".into(),
            })
        }
        MicTarget::Name(wanted) => {
            let lower = wanted.to_lowercase();
            let mut names = Vec::new();
            let devices = if loopback {
                host.output_devices()
            } else {
                host.input_devices()
            }
            .map_err(|e| map_err(kind, wanted, &e))?;
            for d in devices {
                let name = d.to_string();
                let id = d.id().map(|i| i.to_string()).unwrap_or_default();
                if name.to_lowercase().contains(&lower) || id == *wanted {
                    return Ok(d);
                }
                names.push(name);
            }
            Err(CaptureError::NoSuchDevice {
                kind,
                wanted: wanted.clone(),
                available: if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                },
            })
        }
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels);
    let on_data = shared.clone();
    let on_error = shared.clone();
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            // The capture instant: now, less what the device says lies between capture and
            // this callback.
            let ts = info.timestamp();
            let latency = ts.callback.checked_duration_since(ts.capture);
            if let Some(latency) = latency {
                on_data
                    .counters
                    .device_latency_micros
                    .store(latency.as_micros() as u64, Relaxed);
            }
            push_frames(&on_data, data, channels, latency, Instant::now());
        },
        move |e| {
            // Once per stream: a failed device may call this in a tight loop.
            if !on_error.failed.swap(true, Relaxed) {
                tracing::warn!(source = %on_error.counters.name, "audio device error: {e}");
                on_error.counters.set_error(&e.to_string());
            }
        },
        Some(Duration::from_secs(5)),
    )
}

/// Opens and starts a stream on `target`, feeding `shared`'s ring.
fn open_stream(target: &CpalTarget, shared: &Arc<Shared>) -> Result<cpal::Stream, CaptureError> {
    let device = find(target)?;
    let name = device.to_string();
    let kind = target.kind();
    let supported = match target {
        CpalTarget::Input(_) => device.default_input_config(),
        CpalTarget::Loopback(_) => device.default_output_config(),
    }
    .map_err(|e| map_err(kind, &name, &e))?;
    let mut config = supported.config();
    let rate = config.sample_rate;
    let period = rate * PERIOD_MS / 1000;
    if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size()
        && (*min..=*max).contains(&period)
    {
        config.buffer_size = cpal::BufferSize::Fixed(period);
    }
    shared.begin_stream(rate);
    let format = supported.sample_format();
    let stream = match format {
        SampleFormat::I8 => build::<i8>(&device, config, shared),
        SampleFormat::I16 => build::<i16>(&device, config, shared),
        SampleFormat::I24 => build::<cpal::I24>(&device, config, shared),
        SampleFormat::I32 => build::<i32>(&device, config, shared),
        SampleFormat::I64 => build::<i64>(&device, config, shared),
        SampleFormat::U8 => build::<u8>(&device, config, shared),
        SampleFormat::U16 => build::<u16>(&device, config, shared),
        SampleFormat::U24 => build::<cpal::U24>(&device, config, shared),
        SampleFormat::U32 => build::<u32>(&device, config, shared),
        SampleFormat::U64 => build::<u64>(&device, config, shared),
        SampleFormat::F32 => build::<f32>(&device, config, shared),
        SampleFormat::F64 => build::<f64>(&device, config, shared),
        other => {
            return Err(CaptureError::Open {
                kind,
                name,
                detail: format!("unsupported sample format {other}"),
            });
        }
    }
    .map_err(|e| map_err(kind, &name, &e))?;
    stream.play().map_err(|e| map_err(kind, &name, &e))?;
    tracing::info!(
        device = %name,
        kind,
        rate,
        channels = config.channels,
        buffer = ?config.buffer_size,
        offered = ?supported.buffer_size(),
        "audio device open"
    );
    Ok(stream)
}

/// Opens the device (on its device thread, which keeps it) and returns the engine's side,
/// whose counters are named `name`. Fails before anything starts when there is no sound
/// server, no such device, or no permission (see [`SourceDevices::wait_ready`]).
///
/// [`SourceDevices::wait_ready`]: super::SourceDevices::wait_ready
pub(crate) fn open(target: &CpalTarget, name: &str) -> RingSource {
    let (kind, thread) = match target {
        CpalTarget::Input(_) => ("microphone", "cap-mic"),
        CpalTarget::Loopback(_) => ("desktop", "cap-desktop"),
    };
    let shared = Shared::new(name, kind);
    // The stream may not be Send (it is not on every platform): it is opened on, and never
    // leaves, the device thread. The first open's result comes back here (one message).
    let (tx, rx) = bounded::<Result<(), CaptureError>>(1);
    let target = target.clone();
    let for_thread = shared.clone();
    let run = move || device_loop(&target, &for_thread, &tx);
    RingSource::new(
        shared,
        Some(Worker {
            name: thread.into(),
            run: Box::new(run),
        }),
        Some(rx),
    )
}

fn device_loop(
    target: &CpalTarget,
    shared: &Arc<Shared>,
    first: &crossbeam_channel::Sender<Result<(), CaptureError>>,
) {
    let _quiet = QuietAlsa::new();
    let gone = || shared.closed.load(Relaxed);
    let counters = shared.counters.clone();
    let mut stream = match open_stream(target, shared) {
        Ok(s) => {
            let _sent = first.try_send(Ok(()));
            counters.set_live(true);
            Some(s)
        }
        Err(e) => {
            let _sent = first.try_send(Err(e));
            return;
        }
    };
    loop {
        if !sleep_unless(&gone, Duration::from_millis(50)) {
            return;
        }
        if stream.is_some() {
            if shared.stalled() {
                let what = match counters.kind {
                    "desktop" => "desktop audio",
                    kind => kind,
                };
                tracing::error!(source = %counters.name, "{what} lost; retrying every 2 s");
                if !shared.failed.load(Relaxed) {
                    counters.set_error("no audio from the device for a second");
                }
                stream = None;
                counters.losses.fetch_add(1, Relaxed);
                counters.set_live(false);
            }
            continue;
        }
        match open_stream(target, shared) {
            Ok(s) => {
                tracing::info!(source = %counters.name, "audio device is back");
                counters.reopened.fetch_add(1, Relaxed);
                counters.set_live(true);
                stream = Some(s);
            }
            Err(e) => {
                counters.set_error(&e.to_string());
                if !sleep_unless(&gone, REOPEN_INTERVAL) {
                    return;
                }
            }
        }
    }
}

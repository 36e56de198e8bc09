//! What the machine offers (`onair devices`), and building the sources a kind names. Every
//! device is found and checked here, so a bad choice is one clear error before the engine
//! starts.

use serde::Serialize;

use super::compose::{Compositor, Layer};
use super::microphone::{self, CpalTarget};
use super::test_pattern::TestPattern;
use super::tone::Tone;
use super::{
    AudioInput, AudioInputKind, CaptureError, VideoSource, VideoSourceKind, camera, desktop, screen,
};

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// What to put after `screen:`, `window:`, `camera:`, `mic:` or `desktop:`.
    pub id: String,
    pub name: String,
    /// Extra facts: size, position.
    pub detail: String,
}

/// Everything found; a kind that could not be listed has its reason in `errors`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Devices {
    pub screens: Vec<Device>,
    pub windows: Vec<Device>,
    pub cameras: Vec<Device>,
    pub microphones: Vec<Device>,
    /// Outputs whose sound desktop audio can capture (Linux: the sound server's sinks).
    pub desktop_audio: Vec<Device>,
    /// Outputs monitoring can play through.
    pub outputs: Vec<Device>,
    pub errors: Vec<String>,
}

pub fn list() -> Devices {
    let mut d = Devices::default();
    match screen::check_display() {
        Err(e) => d.errors.push(format!("screens: {e}")),
        Ok(()) => {
            match screen::monitors() {
                Ok(ms) => {
                    for (i, m) in ms.into_iter().enumerate() {
                        d.screens.push(Device {
                            id: i.to_string(),
                            name: m.name,
                            detail: format!(
                                "{}x{} at {},{}{}",
                                m.width,
                                m.height,
                                m.x,
                                m.y,
                                if m.primary { ", primary" } else { "" }
                            ),
                        });
                    }
                }
                Err(e) => d.errors.push(format!("screens: {e}")),
            }
            match xcap::Window::all() {
                Ok(ws) => {
                    for w in ws {
                        d.windows.push(Device {
                            id: w.id().map(|i| i.to_string()).unwrap_or_default(),
                            name: w.title().unwrap_or_default(),
                            detail: format!(
                                "{}x{}, {}",
                                w.width().unwrap_or(0),
                                w.height().unwrap_or(0),
                                w.app_name().unwrap_or_default()
                            ),
                        });
                    }
                }
                Err(e) => d.errors.push(format!("windows: {e}")),
            }
        }
    }
    match camera::list() {
        Ok(cs) => {
            for (i, (_, name)) in cs.into_iter().enumerate() {
                d.cameras.push(Device {
                    id: i.to_string(),
                    name,
                    detail: String::new(),
                });
            }
        }
        Err(e) => d.errors.push(format!("cameras: {e}")),
    }
    match microphones() {
        Ok(ms) => {
            for (id, name) in ms {
                d.microphones.push(Device {
                    id,
                    name,
                    detail: String::new(),
                });
            }
        }
        Err(e) => d.errors.push(format!("microphones: {e}")),
    }
    let plain = |(id, name)| Device {
        id,
        name,
        detail: String::new(),
    };
    match desktop::list() {
        Ok(list) => d.desktop_audio = list.into_iter().map(plain).collect(),
        Err(e) => d.errors.push(format!("desktop audio: {e}")),
    }
    match microphone::list_outputs() {
        Ok(list) => d.outputs = list.into_iter().map(plain).collect(),
        Err(e) => d.errors.push(format!("outputs: {e}")),
    }
    d
}

/// The microphones: on Linux the sound server's inputs by its own names (no ALSA plugin
/// lists), or cpal's devices when no sound server answers; elsewhere cpal's devices.
fn microphones() -> Result<Vec<(String, String)>, CaptureError> {
    #[cfg(target_os = "linux")]
    if let Ok(inputs) = desktop::inputs() {
        return Ok(inputs);
    }
    microphone::list()
}

/// The program's video source for `kind`, with its device checked; `None` for no video.
pub fn video_source(
    kind: &VideoSourceKind,
    width: u32,
    height: u32,
    fps: u32,
) -> Result<Option<Box<dyn VideoSource>>, CaptureError> {
    let full = Compositor::full(width, height);
    Ok(match kind {
        VideoSourceKind::None => None,
        VideoSourceKind::Scenes { collection, start } => Some(Box::new(
            super::studio::Studio::open((**collection).clone(), *start, width, height, fps)?,
        )),
        VideoSourceKind::Test => Some(Box::new(TestPattern::new(width, height))),
        VideoSourceKind::Y4m(path) => {
            Some(Box::new(super::y4m::Y4mSource::open(path, width, height)?))
        }
        VideoSourceKind::Screen(t) => {
            let (slot, worker) = screen::open(t, fps)?;
            let label = screen::label(t);
            Some(Box::new(Compositor::new(
                width,
                height,
                vec![Layer::new(slot, full, label)],
                vec![worker],
            )))
        }
        VideoSourceKind::Camera(t) => {
            let (slot, worker, first) = camera::open(t, width, height, fps)?;
            let mut c = Compositor::new(
                width,
                height,
                vec![Layer::new(slot, full, camera::label(t))],
                vec![worker],
            );
            c.wait_for(first);
            Some(Box::new(c))
        }
        VideoSourceKind::ScreenWithCamera {
            screen: s,
            camera: cam,
            pip,
        } => {
            let (cam_slot, cam_worker, first) = camera::open(cam, width, height, fps)?;
            let (screen_slot, screen_worker) = screen::open(s, fps)?;
            let mut c = Compositor::new(
                width,
                height,
                vec![
                    Layer::new(screen_slot, full, screen::label(s)),
                    Layer::new(
                        cam_slot,
                        Compositor::pip_rect(width, height, *pip),
                        camera::label(cam),
                    ),
                ],
                vec![screen_worker, cam_worker],
            );
            c.wait_for(first);
            Some(Box::new(c))
        }
    })
}

/// The mixer's input for `kind`, its counters named `name`, its device not opened yet (the
/// pipeline starts its thread, then `wait_ready` says whether it opened).
pub fn audio_input(kind: &AudioInputKind, name: &str) -> Box<dyn AudioInput> {
    match kind {
        AudioInputKind::Tone => Box::new(Tone::new()),
        AudioInputKind::Microphone(t) => {
            // A source of the sound server's, by its name (as the window lists them), is
            // recorded from the server; anything else through cpal.
            #[cfg(target_os = "linux")]
            if let super::MicTarget::Name(source) = t
                && desktop::has_source(source)
            {
                return Box::new(desktop::open_source(source, name));
            }
            Box::new(microphone::open(&CpalTarget::Input(t.clone()), name))
        }
        AudioInputKind::Desktop(t) => Box::new(desktop::open(t, name)),
    }
}

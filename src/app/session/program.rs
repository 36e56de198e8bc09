//! The program that is always on: the controller runs the program the window asks for from
//! its start, whether or not an output runs (the engine's encoders run only while one does),
//! and starts it again when its preset, audio or devices change while no output runs. While
//! one runs, a screen or camera added to the scenes is opened into the running studio.

use super::*;
use crate::capture::VideoSourceKind;
use crate::capture::scene::{Collection, SourceKind};

impl Program {
    /// The engine running this program with no output yet (outputs join it).
    pub(super) fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            preset: self.preset.clone(),
            video: self.video.clone(),
            audio: self.audio.clone(),
            duration: None,
            outputs: Vec::new(),
            pacing: crate::pipeline::Pacing::RealTime,
            encoder_threads: crate::encode::EncoderLoad::for_rate(
                self.preset.width,
                self.preset.height,
                self.preset.fps,
            )
            .threads,
            video_tuning: None,
        }
    }

    /// True if running `other` instead needs the engine started again: another preset or
    /// video, or audio coming or going (the mixer's other settings change live).
    pub fn differs_from(&self, other: &Program) -> bool {
        self.preset != other.preset
            || !same_devices(&self.video, &other.video)
            || self.audio.sources.is_empty() != other.audio.sources.is_empty()
    }
}

/// True if `a` and `b` open the same devices. Two sets of scenes differing only in what the
/// running studio takes live (`SceneControl::replace`: layers, images, text, colours, the scene
/// shown) are the same program; a device source new by name or kind needs a start.
fn same_devices(a: &VideoSourceKind, b: &VideoSourceKind) -> bool {
    match (a, b) {
        (
            VideoSourceKind::Scenes { collection: a, .. },
            VideoSourceKind::Scenes { collection: b, .. },
        ) => {
            let devices = |c: &Collection| -> Vec<(String, SourceKind)> {
                c.sources
                    .iter()
                    .filter(|s| {
                        !matches!(
                            s.kind,
                            SourceKind::Test
                                | SourceKind::Image(_)
                                | SourceKind::Colour(_)
                                | SourceKind::Text(_)
                        )
                    })
                    .map(|s| (s.name.clone(), s.kind.clone()))
                    .collect()
            };
            devices(a) == devices(b)
        }
        _ => a == b,
    }
}

impl Controller {
    /// Runs the program asked for last, unless it runs already: started if none runs, started
    /// again if it changed. Only while no output runs. A program that failed to start is not
    /// tried again until it changes (its notice said why).
    pub(super) fn run_program(&mut self) {
        let Some(program) = self.program.clone() else {
            return;
        };
        if let Some((_, running)) = &self.engine {
            if !running.differs_from(&program) {
                return;
            }
            self.stop_engine();
        }
        if self
            .failed
            .as_ref()
            .is_some_and(|f| !f.differs_from(&program))
        {
            return;
        }
        match EngineHandle::start(program.engine_config()) {
            Ok(engine) => {
                tracing::info!(preset = %program.preset.name, "program started");
                self.failed = None;
                self.started(engine, &program);
            }
            Err(e) => {
                self.failed = Some(program);
                self.notice(true, format!("the program cannot start: {e}"));
            }
        }
    }

    /// Opens the screens, windows and cameras the window added to the running studio's scenes
    /// (each shows as soon as it has a picture; encoders, outputs and the clock go on). One
    /// that cannot be opened shows the slate, is tried again every 2 s, and is told once.
    pub(super) fn open_scene_devices(&mut self) {
        let Some((engine, _)) = self.engine.as_mut() else {
            return;
        };
        for e in engine.open_scene_devices() {
            self.notice(
                true,
                format!("{e}; it shows the \"source lost\" slate and is tried again every 2 s"),
            );
        }
    }

    /// Keeps a newly started engine and shows what it makes.
    pub(super) fn started(&mut self, engine: EngineHandle, program: &Program) {
        engine.preview().set_fps(self.preview_fps);
        let picture = engine.preview();
        let levels = engine.audio_levels();
        let mixer = engine.mixer();
        let scenes = engine.scenes();
        self.update(|v| {
            v.engine_running = true;
            v.preset = Some(program.preset.name.clone());
            v.picture = Some(picture);
            v.levels = Some(levels);
            v.mixer = mixer;
            v.current_scene = scenes.as_ref().map(|s| s.current().to_owned());
            v.scenes = scenes;
            v.history.clear();
        });
        self.engine = Some((engine, program.clone()));
        self.window.clear();
    }
}

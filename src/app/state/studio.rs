//! The scenes' actions: edits through the [`Editor`], switches, the image dialog, and the
//! running studio kept on the last collection that validated.

use std::path::Path;

use super::*;
use crate::app::studio::{Edit, Editor};
use crate::capture::VideoSourceKind;
use crate::capture::scene::{Collection, SceneProblem};

/// The scene editor beside the settings.
#[derive(Debug)]
pub struct StudioState {
    pub editor: Editor,
    /// The last collection that validated: the program's.
    pub good: Arc<Collection>,
    /// Why the scenes as edited do not validate (shown in red beside its cause).
    pub problem: Option<SceneProblem>,
}

impl Default for StudioState {
    fn default() -> Self {
        Self {
            editor: Editor::default(),
            good: Arc::new(Collection::builtin(1280, 720).only(0)),
            problem: None,
        }
    }
}

impl AppState {
    /// Image paths typed relative are relative to the config folder, as in config.toml.
    fn scenes_base(&self) -> PathBuf {
        self.config_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The program's picture as the engine takes it: the last good collection.
    pub(super) fn video_source(&self) -> VideoSourceKind {
        if self.settings.audio_only {
            return VideoSourceKind::None;
        }
        let good = &self.studio.good;
        VideoSourceKind::Scenes {
            collection: Box::new(Collection::clone(good)),
            start: good.scene(&self.settings.scene).unwrap_or(0),
        }
    }

    /// Checks the scenes as edited: a set that validates becomes the program's (the running
    /// studio takes it at its next frame); one that does not is shown, the last good kept.
    pub(super) fn scenes_edited(&mut self) {
        match self
            .settings
            .scene_set()
            .validate(&self.scenes_base())
            .and_then(images_readable)
        {
            Ok(c) => {
                self.studio.problem = None;
                if c != *self.studio.good {
                    if let Some(control) = &self.view.scenes {
                        control.replace(c.clone(), &self.settings.scene);
                    }
                    self.studio.good = Arc::new(c);
                }
            }
            Err(p) => self.studio.problem = Some(p),
        }
        // A device new to the program starts it again while no output runs.
        self.program_edited();
    }

    /// Puts scene `name` on the program (with the transition while running).
    pub(super) fn switch_scene(&mut self, name: String) {
        if !self.settings.scenes.iter().any(|s| s.name == name) {
            // A hotkey bound to a scene since removed or renamed.
            self.toast(
                true,
                format!("cannot switch to scene \"{name}\": no scene has that name"),
            );
            return;
        }
        if self.settings.scene == name {
            return;
        }
        if let Some(control) = &self.view.scenes
            && let Err(e) = control.switch(&name, None)
        {
            // A scene not yet in the running studio (its set does not validate).
            self.toast(true, e.to_string());
            return;
        }
        self.settings.scene = name;
        self.studio.editor.selected = None;
    }

    pub(super) fn edit_scenes(&mut self, edit: Edit) {
        let preset = self.preset();
        let mut set = self.settings.scene_set();
        let mut current = self.settings.scene.clone();
        let changed = self.studio.editor.apply(
            &mut set,
            &mut current,
            &self.studio.good,
            (preset.width, preset.height),
            edit,
        );
        if changed {
            self.settings.set_scene_set(set);
        }
        if current != self.settings.scene {
            // A new scene, or the current one renamed or removed: the studio takes it with
            // the new collection, at once.
            self.settings.scene = current;
            if let Some(control) = &self.view.scenes
                && !changed
            {
                let _ = control.switch(&self.settings.scene, Some(Transition::Cut));
            }
        }
    }

    pub(super) fn pick_image(&mut self, index: usize) {
        let start = self
            .settings
            .sources
            .get(index)
            .and_then(|s| s.path.as_deref())
            .and_then(Path::parent)
            .map(Path::to_owned)
            .or_else(|| directories::UserDirs::new().map(|d| d.home_dir().to_owned()))
            .unwrap_or_default();
        let wake = self.wake.clone();
        self.file_dialog
            .ask(Ask::Image(index), "Choose an image", start, wake);
    }

    pub(super) fn image_chosen(&mut self, index: usize, path: PathBuf) {
        let Some(mut source) = self.settings.sources.get(index).cloned() else {
            return;
        };
        source.path = Some(path);
        self.edit_scenes(Edit::Source {
            index,
            source: Box::new(source),
        });
        self.scenes_edited();
        self.save();
    }

    /// The scene editor's state, for the panels.
    pub fn studio(&self) -> &StudioState {
        &self.studio
    }
}

use crate::capture::scene::{SourceKind, Transition};

/// Every image source's file can be read as a picture (its header: the studio decodes it
/// on its own thread, which must not find out then), and every video file's index says it
/// can be played (H.264 without B-frames, AAC).
fn images_readable(c: Collection) -> Result<Collection, SceneProblem> {
    for s in &c.sources {
        if let SourceKind::Video(path) = &s.kind
            && let Err(e) = crate::capture::video_file::probe(path, &s.name)
        {
            return Err(SceneProblem {
                place: format!("source \"{}\"", s.name),
                field: "path",
                problem: e.to_string(),
            });
        }
        if let SourceKind::Image(path) = &s.kind
            && let Err(e) = image::image_dimensions(path)
        {
            return Err(SceneProblem {
                place: format!("source \"{}\"", s.name),
                field: "path",
                problem: format!("{} cannot be read as a picture: {e}", path.display()),
            });
        }
    }
    Ok(c)
}

impl AppState {
    /// The program's size in pixels (the preset's).
    pub fn program_size(&self) -> (u32, u32) {
        let p = self.preset();
        (p.width, p.height)
    }

    /// The selected layer's box in program pixels, if one is selected and shown.
    pub fn selected_box(&mut self) -> Option<crate::app::studio::Box2> {
        let size = self.program_size();
        let i = self.studio.editor.selected?;
        let s = &self.settings;
        let layer = s.scenes.iter().find(|c| c.name == s.scene)?.layers.get(i)?;
        if !layer.visible {
            return None;
        }
        Some(self.studio.editor.layer_box(layer, &self.studio.good, size))
    }
}

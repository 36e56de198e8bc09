//! The window's scene editing, without a GUI toolkit: the scenes as the config file writes
//! them ([`SceneSet`]), what each [`Edit`] does to them, the undo stack, and the preview's
//! hit testing, dragging, resizing and snapping, all in program pixels.
//!
//! As in OBS, the scene being edited is the one on the program. Edits may leave the set
//! invalid (a name taken twice, an image not chosen yet): the window shows why in red and
//! the program keeps the last set that validated.

use std::collections::HashMap;
use std::path::Path;

use crate::capture::Corner;
use crate::capture::raster::{RgbaImage, TextRenderer};
use crate::capture::scene::{Collection, SceneProblem, SourceKind};
use crate::config::scenes::{LayerFile, SceneFile, SourceFile, TransitionFile, collection};

/// Undo keeps this many steps.
pub const UNDO_STEPS: usize = 100;

/// Sources, scenes and transition, as `[[sources]]`, `[[scenes]]` and `[transition]` write them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SceneSet {
    pub sources: Vec<SourceFile>,
    pub scenes: Vec<SceneFile>,
    pub transition: TransitionFile,
}

impl SceneSet {
    /// Validated (image paths relative to `base`, the config folder).
    pub fn validate(&self, base: &Path) -> Result<Collection, SceneProblem> {
        collection(
            self.sources.clone(),
            self.scenes.clone(),
            Some(self.transition.clone()),
            base,
        )
    }

    pub fn scene(&self, name: &str) -> Option<usize> {
        self.scenes.iter().position(|s| s.name == name)
    }

    pub fn source(&self, name: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.name == name)
    }

    /// `base` if no source (or scene, with `scenes`) has that name, else `base 2`, `base 3`…
    fn unique(&self, base: &str, scenes: bool) -> String {
        let taken = |n: &str| {
            if scenes {
                self.scene(n).is_some()
            } else {
                self.source(n).is_some()
            }
        };
        if !taken(base) {
            return base.to_owned();
        }
        (2..)
            .map(|i| format!("{base} {i}"))
            .find(|n| !taken(n))
            .unwrap_or_default()
    }

    /// Drops the sources no layer shows (OBS deletes a source with its last scene item).
    fn drop_unused(&mut self) {
        let scenes = &self.scenes;
        self.sources.retain(|s| {
            scenes
                .iter()
                .flat_map(|c| &c.layers)
                .any(|l| l.source == s.name)
        });
    }
}

/// The picture choice of the window before scenes, and its devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldChoice {
    TestPattern,
    Screen,
    Camera,
    ScreenAndCamera,
}

/// The scenes a window from before scenes showed: one scene of the old choice (its name
/// returned), with the same devices and the camera box where it was.
pub fn from_choice(
    choice: OldChoice,
    screen: &SourceFile,
    camera: u32,
    pip: (Corner, u8),
    program: (u32, u32),
) -> (SceneSet, String) {
    let camera = SourceFile {
        name: "Camera".into(),
        kind: "camera".into(),
        camera: Some(camera.to_string()),
        ..SourceFile::default()
    };
    let test = SourceFile {
        name: "Test pattern".into(),
        kind: "test".into(),
        ..SourceFile::default()
    };
    let one = |name: &str, sources: Vec<SourceFile>, layers: Vec<LayerFile>| {
        let set = SceneSet {
            sources,
            scenes: vec![SceneFile {
                name: name.into(),
                layers,
            }],
            transition: TransitionFile::default(),
        };
        (set, name.to_owned())
    };
    match choice {
        OldChoice::TestPattern => one(
            "Test pattern",
            vec![test],
            vec![LayerFile::new("Test pattern")],
        ),
        OldChoice::Screen => one(
            "Screen",
            vec![screen.clone()],
            vec![LayerFile::new(&screen.name)],
        ),
        OldChoice::Camera => one("Camera", vec![camera], vec![LayerFile::new("Camera")]),
        OldChoice::ScreenAndCamera => {
            let layout = crate::capture::PipLayout {
                corner: pip.0,
                width_percent: pip.1.clamp(5, 100),
            };
            let r = crate::capture::compose::Compositor::pip_rect(program.0, program.1, layout);
            let pip_layer = LayerFile {
                x: r.x as i32,
                y: r.y as i32,
                width: Some(r.w),
                height: Some(r.h),
                ..LayerFile::new("Camera")
            };
            one(
                "Screen + camera",
                vec![screen.clone(), camera],
                vec![LayerFile::new(&screen.name), pip_layer],
            )
        }
    }
}

/// A box in program pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Box2 {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

impl Box2 {
    fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }

    /// The resize handles: (-1, 0 or 1 on each axis) and where each is.
    pub fn handles(&self) -> [((i8, i8), (i64, i64)); 8] {
        let (l, t, r, b) = (self.x, self.y, self.x + self.w, self.y + self.h);
        let (cx, cy) = ((l + r) / 2, (t + b) / 2);
        [
            ((-1, -1), (l, t)),
            ((0, -1), (cx, t)),
            ((1, -1), (r, t)),
            ((1, 0), (r, cy)),
            ((1, 1), (r, b)),
            ((0, 1), (cx, b)),
            ((-1, 1), (l, b)),
            ((-1, 0), (l, cy)),
        ]
    }
}

/// What the scene panels and the preview ask of the scenes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    AddScene,
    RenameScene {
        index: usize,
        name: String,
    },
    DuplicateScene(usize),
    RemoveScene(usize),
    /// One place up (earlier in the list) or down.
    MoveScene {
        index: usize,
        up: bool,
    },
    Transition(TransitionFile),
    /// A new source of this kind (as the config file names kinds) on top of the scene.
    AddSource(&'static str),
    /// A layer of an existing source on top of the scene.
    AddExisting(String),
    RemoveLayer(usize),
    /// One place up (nearer the top, drawn later) or down.
    MoveLayer {
        index: usize,
        up: bool,
    },
    ToggleVisible(usize),
    ToggleLocked(usize),
    Select(Option<usize>),
    /// The source at this index in the set, as edited in its properties.
    Source {
        index: usize,
        /// Boxed: a source's fields make the biggest action by far.
        source: Box<SourceFile>,
    },
    /// The scene's layer at this index, as edited in its properties.
    Layer {
        index: usize,
        layer: LayerFile,
    },
    /// A press on the preview at this program pixel; `grab`: how near a handle counts.
    Press {
        x: i32,
        y: i32,
        grab: i32,
    },
    /// The pointer, pressed, is at this program pixel; `snap`: how near an edge snaps.
    Drag {
        x: i32,
        y: i32,
        keep_aspect: bool,
        snap: i32,
    },
    Release,
    Nudge {
        dx: i32,
        dy: i32,
    },
    Undo,
}

/// An edit in progress with the pointer.
#[derive(Debug, Clone, Copy)]
struct DragState {
    layer: usize,
    handle: Option<(i8, i8)>,
    start: (i64, i64),
    orig: Box2,
    /// The undo step is taken at the first movement (a click alone changes nothing).
    moved: bool,
}

/// Which edits join the last undo step (typing in one field, nudges of one layer).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Coalesce {
    Source(usize),
    Layer(String, usize),
    Nudge(String, usize),
}

/// The editor's state beside the scenes: selection, undo, the drag, natural sizes.
#[derive(Default)]
pub struct Editor {
    undo: Vec<(SceneSet, Option<usize>)>,
    coalesce: Option<Coalesce>,
    /// The selected layer of the current scene.
    pub selected: Option<usize>,
    drag: Option<DragState>,
    /// Sizes of images and texts by source name (measured once per change).
    sizes: HashMap<String, (SourceKind, (u32, u32))>,
    text: Option<TextRenderer>,
}

impl std::fmt::Debug for Editor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Editor")
            .field("undo", &self.undo.len())
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

impl Editor {
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn dragging(&self) -> bool {
        self.drag.is_some()
    }

    fn checkpoint(&mut self, set: &SceneSet, key: Option<Coalesce>) {
        if key.is_some() && key == self.coalesce {
            return;
        }
        self.coalesce = key;
        if self.undo.len() == UNDO_STEPS {
            self.undo.remove(0);
        }
        self.undo.push((set.clone(), self.selected));
    }

    /// The box of layer `index` of `scene`: its size, else its source's own (images and
    /// texts, from the last good `good`), else the program's.
    pub fn layer_box(&mut self, layer: &LayerFile, good: &Collection, program: (u32, u32)) -> Box2 {
        let (w, h) = match (layer.width, layer.height) {
            (Some(w), Some(h)) => (w, h),
            _ => self.natural(&layer.source, good).unwrap_or(program),
        };
        Box2 {
            x: i64::from(layer.x),
            y: i64::from(layer.y),
            w: i64::from(w),
            h: i64::from(h),
        }
    }

    fn natural(&mut self, source: &str, good: &Collection) -> Option<(u32, u32)> {
        let kind = &good.sources.get(good.source(source)?)?.kind;
        if let Some((k, size)) = self.sizes.get(source)
            && k == kind
        {
            return Some(*size);
        }
        let size = match kind {
            SourceKind::Image(path) => image::image_dimensions(path).ok()?,
            SourceKind::Text(spec) => {
                let mut img = RgbaImage::default();
                let words = spec.text.replace("{clock}", "00:00:00");
                let words = words.replace("{elapsed}", "00:00:00");
                let words = words.replace("{countdown}", "00:00");
                self.text
                    .get_or_insert_with(TextRenderer::default)
                    .render(spec, &words, &mut img);
                (img.width, img.height)
            }
            _ => return None,
        };
        self.sizes.insert(source.to_owned(), (kind.clone(), size));
        Some(size)
    }

    /// The topmost visible, unlocked layer of `scene` at program pixel (x, y).
    pub fn hit(
        &mut self,
        scene: &SceneFile,
        good: &Collection,
        program: (u32, u32),
        x: i64,
        y: i64,
    ) -> Option<usize> {
        (0..scene.layers.len()).rev().find(|&i| {
            let l = &scene.layers[i];
            l.visible && !l.locked && self.layer_box(l, good, program).contains(x, y)
        })
    }

    /// Carries out `edit` on `set`, whose scene `current` is on the program (renamed or
    /// switched by the edit if need be). True if `set` changed.
    pub fn apply(
        &mut self,
        set: &mut SceneSet,
        current: &mut String,
        good: &Collection,
        program: (u32, u32),
        edit: Edit,
    ) -> bool {
        let before = set.clone();
        let scene = set.scene(current).unwrap_or(0);
        if !matches!(
            edit,
            Edit::Source { .. } | Edit::Layer { .. } | Edit::Nudge { .. } | Edit::Drag { .. }
        ) {
            self.coalesce = None;
        }
        match edit {
            Edit::Undo => {
                self.drag = None;
                let Some((old, selected)) = self.undo.pop() else {
                    return false;
                };
                *set = old;
                self.selected = selected;
                if set.scene(current).is_none()
                    && let Some(first) = set.scenes.first()
                {
                    current.clone_from(&first.name);
                }
                return true;
            }
            Edit::Select(i) => {
                self.selected = i;
                return false;
            }
            Edit::Press { x, y, grab } => {
                self.press(set, scene, good, program, (x, y, grab));
                return false;
            }
            Edit::Release => {
                self.drag = None;
                return false;
            }
            _ => {}
        }
        self.checkpoint(set, coalesce_key(&edit, set, scene, self.selected));
        match edit {
            Edit::AddScene => {
                let name = set.unique("Scene", true);
                set.scenes.push(SceneFile {
                    name: name.clone(),
                    layers: Vec::new(),
                });
                *current = name;
                self.selected = None;
            }
            Edit::RenameScene { index, name } => {
                if let Some(s) = set.scenes.get_mut(index) {
                    if s.name == *current {
                        current.clone_from(&name);
                    }
                    s.name = name;
                }
            }
            Edit::DuplicateScene(index) => {
                if let Some(s) = set.scenes.get(index) {
                    let mut copy = s.clone();
                    copy.name = set.unique(&s.name, true);
                    set.scenes.insert(index + 1, copy);
                }
            }
            Edit::RemoveScene(index) => {
                if set.scenes.len() > 1 && index < set.scenes.len() {
                    let gone = set.scenes.remove(index);
                    set.drop_unused();
                    if gone.name == *current {
                        current.clone_from(&set.scenes[index.min(set.scenes.len() - 1)].name);
                        self.selected = None;
                    }
                }
            }
            Edit::MoveScene { index, up } => move_item(&mut set.scenes, index, up),
            Edit::Transition(t) => set.transition = t,
            Edit::AddSource(kind) => {
                let source = new_source(set, kind);
                let name = source.name.clone();
                set.sources.push(source);
                self.add_layer(set, scene, &name);
            }
            Edit::AddExisting(name) => {
                if set.source(&name).is_some() {
                    self.add_layer(set, scene, &name);
                }
            }
            Edit::RemoveLayer(i) => {
                if let Some(s) = set.scenes.get_mut(scene)
                    && i < s.layers.len()
                {
                    s.layers.remove(i);
                    set.drop_unused();
                    self.selected = None;
                }
            }
            Edit::MoveLayer { index, up } => {
                if let Some(s) = set.scenes.get_mut(scene) {
                    let len = s.layers.len();
                    // Up the list is nearer the top: later in the file.
                    move_item(&mut s.layers, index, !up);
                    if self.selected == Some(index) && len > 0 {
                        let to = if up {
                            (index + 1).min(len - 1)
                        } else {
                            index.saturating_sub(1)
                        };
                        self.selected = Some(to);
                    }
                }
            }
            Edit::ToggleVisible(i) => {
                if let Some(l) = layer_mut(set, scene, i) {
                    l.visible = !l.visible;
                }
            }
            Edit::ToggleLocked(i) => {
                if let Some(l) = layer_mut(set, scene, i) {
                    l.locked = !l.locked;
                }
            }
            Edit::Source { index, source } => {
                if let Some(old) = set.sources.get(index).map(|s| s.name.clone()) {
                    // A renamed source stays shown by its layers.
                    if old != source.name {
                        for l in set.scenes.iter_mut().flat_map(|s| &mut s.layers) {
                            if l.source == old {
                                l.source.clone_from(&source.name);
                            }
                        }
                    }
                    set.sources[index] = *source;
                }
            }
            Edit::Layer { index, layer } => {
                if let Some(l) = layer_mut(set, scene, index) {
                    *l = layer;
                }
            }
            Edit::Nudge { dx, dy } => {
                if let Some(l) = self.selected.and_then(|i| layer_mut(set, scene, i))
                    && !l.locked
                {
                    l.x = l.x.saturating_add(dx);
                    l.y = l.y.saturating_add(dy);
                }
            }
            Edit::Drag {
                x,
                y,
                keep_aspect,
                snap,
            } => self.drag_to(set, scene, program, (x, y), keep_aspect, snap),
            Edit::Undo | Edit::Select(_) | Edit::Press { .. } | Edit::Release => {}
        }
        if *set == before {
            // Nothing changed: no undo step for it.
            if self.undo.last().is_some_and(|(s, _)| s == set) {
                self.undo.pop();
                self.coalesce = None;
            }
            return false;
        }
        true
    }

    fn add_layer(&mut self, set: &mut SceneSet, scene: usize, source: &str) {
        if let Some(s) = set.scenes.get_mut(scene) {
            s.layers.push(LayerFile::new(source));
            self.selected = Some(s.layers.len() - 1);
        }
    }

    fn press(
        &mut self,
        set: &SceneSet,
        scene: usize,
        good: &Collection,
        program: (u32, u32),
        (x, y, grab): (i32, i32, i32),
    ) {
        let Some(s) = set.scenes.get(scene) else {
            return;
        };
        let (x, y, grab) = (i64::from(x), i64::from(y), i64::from(grab));
        // A handle of the selected layer first.
        if let Some(i) = self.selected
            && let Some(l) = s.layers.get(i).filter(|l| l.visible && !l.locked)
        {
            let b = self.layer_box(l, good, program);
            if let Some((h, _)) = b
                .handles()
                .into_iter()
                .find(|(_, (hx, hy))| (hx - x).abs() <= grab && (hy - y).abs() <= grab)
            {
                self.drag = Some(DragState {
                    layer: i,
                    handle: Some(h),
                    start: (x, y),
                    orig: b,
                    moved: false,
                });
                return;
            }
        }
        self.selected = self.hit(s, good, program, x, y);
        self.drag = self.selected.map(|i| DragState {
            layer: i,
            handle: None,
            start: (x, y),
            orig: self.layer_box(&s.layers[i], good, program),
            moved: false,
        });
    }

    fn drag_to(
        &mut self,
        set: &mut SceneSet,
        scene: usize,
        program: (u32, u32),
        (x, y): (i32, i32),
        keep_aspect: bool,
        snap: i32,
    ) {
        let Some(d) = self.drag.as_mut() else {
            return;
        };
        d.moved = true;
        let d = *d;
        let (dx, dy) = (i64::from(x) - d.start.0, i64::from(y) - d.start.1);
        let b = match d.handle {
            None => moved(d.orig, dx, dy, program, i64::from(snap)),
            Some(h) => resized(d.orig, h, dx, dy, keep_aspect, program, i64::from(snap)),
        };
        if let Some(l) = layer_mut(set, scene, d.layer) {
            l.x = clamp_i32(b.x);
            l.y = clamp_i32(b.y);
            if d.handle.is_some() {
                l.width = Some(b.w.clamp(2, 16_384) as u32);
                l.height = Some(b.h.clamp(2, 16_384) as u32);
            }
        }
    }
}

/// The undo step an edit joins, if any: typing into one source's or one layer's fields,
/// nudging one layer, and every movement of one drag.
fn coalesce_key(
    edit: &Edit,
    set: &SceneSet,
    scene: usize,
    selected: Option<usize>,
) -> Option<Coalesce> {
    let scene_name = || {
        set.scenes
            .get(scene)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    match edit {
        Edit::Source { index, .. } => Some(Coalesce::Source(*index)),
        Edit::Layer { index, .. } => Some(Coalesce::Layer(scene_name(), *index)),
        Edit::Nudge { .. } => selected.map(|i| Coalesce::Nudge(scene_name(), i)),
        // A drag's first movement takes the step; the others join it.
        Edit::Drag { .. } => Some(Coalesce::Layer(
            format!("drag {}", scene_name()),
            usize::MAX,
        )),
        _ => None,
    }
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(-32_768, 32_768) as i32
}

fn layer_mut(set: &mut SceneSet, scene: usize, i: usize) -> Option<&mut LayerFile> {
    set.scenes.get_mut(scene)?.layers.get_mut(i)
}

fn move_item<T>(items: &mut [T], index: usize, earlier: bool) {
    if index >= items.len() {
        return;
    }
    if earlier && index > 0 {
        items.swap(index, index - 1);
    } else if !earlier && index + 1 < items.len() {
        items.swap(index, index + 1);
    }
}

/// A new source of `kind`, named after it (unique), with OBS's defaults.
fn new_source(set: &SceneSet, kind: &'static str) -> SourceFile {
    let (base, source) = match kind {
        "screen" => (
            "Screen",
            SourceFile {
                monitor: Some(0),
                ..SourceFile::default()
            },
        ),
        "window" => ("Window", SourceFile::default()),
        "camera" => (
            "Camera",
            SourceFile {
                camera: Some("0".into()),
                ..SourceFile::default()
            },
        ),
        "image" => ("Image", SourceFile::default()),
        "video" => ("Video", SourceFile::default()),
        "colour" => (
            "Colour",
            SourceFile {
                colour: Some("#D1D1D1".into()),
                ..SourceFile::default()
            },
        ),
        "text" => (
            "Text",
            SourceFile {
                text: Some("Text".into()),
                size: Some(48),
                colour: Some("#FFFFFF".into()),
                ..SourceFile::default()
            },
        ),
        _ => ("Test pattern", SourceFile::default()),
    };
    SourceFile {
        name: set.unique(base, false),
        kind: kind.to_owned(),
        ..source
    }
}

/// The edges a moving edge snaps to: the program's sides and centre.
fn snap_targets(size: i64) -> [i64; 3] {
    [0, size / 2, size]
}

/// How far to shift so that one of `edges` meets a target within `snap`, the nearest.
fn snap_shift(edges: &[i64], size: i64, snap: i64) -> i64 {
    let mut best: Option<i64> = None;
    for e in edges {
        for t in snap_targets(size) {
            let d = t - e;
            if d.abs() <= snap && best.is_none_or(|b| d.abs() < b.abs()) {
                best = Some(d);
            }
        }
    }
    best.unwrap_or(0)
}

/// `b` moved by (dx, dy), its sides or centre snapped to the program's.
pub fn moved(b: Box2, dx: i64, dy: i64, program: (u32, u32), snap: i64) -> Box2 {
    let (pw, ph) = (i64::from(program.0), i64::from(program.1));
    let (x, y) = (b.x + dx, b.y + dy);
    let sx = snap_shift(&[x, x + b.w / 2, x + b.w], pw, snap);
    let sy = snap_shift(&[y, y + b.h / 2, y + b.h], ph, snap);
    Box2 {
        x: x + sx,
        y: y + sy,
        ..b
    }
}

/// `b` with the sides of `handle` moved by (dx, dy), snapped; with `keep_aspect` its shape
/// kept (the larger change wins); the opposite sides stay; at least 2 px.
pub fn resized(
    b: Box2,
    (hx, hy): (i8, i8),
    dx: i64,
    dy: i64,
    keep_aspect: bool,
    program: (u32, u32),
    snap: i64,
) -> Box2 {
    let (pw, ph) = (i64::from(program.0), i64::from(program.1));
    let (mut l, mut t, mut r, mut bo) = (b.x, b.y, b.x + b.w, b.y + b.h);
    match hx {
        -1 => l = (l + dx) + snap_shift(&[l + dx], pw, snap),
        1 => r = (r + dx) + snap_shift(&[r + dx], pw, snap),
        _ => {}
    }
    match hy {
        -1 => t = (t + dy) + snap_shift(&[t + dy], ph, snap),
        1 => bo = (bo + dy) + snap_shift(&[bo + dy], ph, snap),
        _ => {}
    }
    let (mut w, mut h) = ((r - l).max(2), (bo - t).max(2));
    if keep_aspect && b.w > 0 && b.h > 0 {
        // Compare w/b.w with h/b.h without division.
        let width_leads = hy == 0 || (hx != 0 && w * b.h >= h * b.w);
        if width_leads {
            h = ((w * b.h + b.w / 2) / b.w).max(2);
        } else {
            w = ((h * b.w + b.h / 2) / b.h).max(2);
        }
    }
    let x = if hx == -1 { r - w } else { l };
    let y = if hy == -1 { bo - h } else { t };
    Box2 { x, y, w, h }
}

#[cfg(test)]
#[path = "studio_tests.rs"]
mod tests;

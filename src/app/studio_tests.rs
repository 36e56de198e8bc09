use std::path::Path;

use super::*;

const PROGRAM: (u32, u32) = (1280, 720);

fn set() -> (SceneSet, String) {
    let screen = SourceFile {
        name: "Screen".into(),
        kind: "screen".into(),
        monitor: Some(0),
        ..SourceFile::default()
    };
    from_choice(
        OldChoice::ScreenAndCamera,
        &screen,
        1,
        (Corner::BottomRight, 25),
        PROGRAM,
    )
}

fn good(set: &SceneSet) -> Collection {
    set.validate(Path::new("/")).unwrap()
}

#[test]
fn an_old_choice_becomes_its_scene_with_the_camera_box_where_it_was() {
    let (s, current) = set();
    assert_eq!(current, "Screen + camera");
    let c = good(&s);
    let builtin = Collection::builtin(1280, 720);
    // The same layers as the built-in screen+camera scene (by place and size).
    assert_eq!(c.scenes[0].layers, builtin.only(3).scenes[0].layers);
    assert_eq!(s.sources[1].camera.as_deref(), Some("1"));
}

#[test]
fn hit_testing_takes_the_topmost_visible_unlocked_layer() {
    let (mut s, _) = set();
    let c = good(&s);
    let mut e = Editor::default();
    // The camera box: 320x180 at (928, 508).
    assert_eq!(e.hit(&s.scenes[0], &c, PROGRAM, 1000, 600), Some(1));
    assert_eq!(e.hit(&s.scenes[0], &c, PROGRAM, 100, 100), Some(0));
    assert_eq!(e.hit(&s.scenes[0], &c, PROGRAM, 1280, 100), None);
    s.scenes[0].layers[1].locked = true;
    assert_eq!(e.hit(&s.scenes[0], &c, PROGRAM, 1000, 600), Some(0));
    s.scenes[0].layers[0].visible = false;
    assert_eq!(e.hit(&s.scenes[0], &c, PROGRAM, 1000, 600), None);
}

#[test]
fn moving_snaps_to_the_edges_and_the_centre() {
    let b = Box2 {
        x: 100,
        y: 100,
        w: 200,
        h: 100,
    };
    // Far from every line: moved by exactly the drag.
    assert_eq!(
        moved(b, 37, 41, PROGRAM, 8),
        Box2 {
            x: 137,
            y: 141,
            ..b
        }
    );
    // Left edge within 8 of 0.
    assert_eq!(moved(b, -95, 0, PROGRAM, 8).x, 0);
    // Centre within 8 of 640: 100 + 433 + 100 = 633.
    assert_eq!(moved(b, 433, 0, PROGRAM, 8).x, 540);
    // Right edge to 1280, bottom to 720.
    let m = moved(b, 975, 515, PROGRAM, 8);
    assert_eq!((m.x + m.w, m.y + m.h), (1280, 720));
    // Snapping off.
    assert_eq!(moved(b, -95, 0, PROGRAM, 0).x, 5);
}

#[test]
fn resizing_moves_the_dragged_sides_and_shift_keeps_the_aspect() {
    let b = Box2 {
        x: 100,
        y: 100,
        w: 200,
        h: 100,
    };
    // Bottom right corner by (50, 20): free, then keeping 2:1 (width leads).
    assert_eq!(
        resized(b, (1, 1), 50, 20, false, PROGRAM, 0),
        Box2 {
            w: 250,
            h: 120,
            ..b
        }
    );
    assert_eq!(
        resized(b, (1, 1), 50, 20, true, PROGRAM, 0),
        Box2 {
            w: 250,
            h: 125,
            ..b
        }
    );
    // Top left corner: the bottom right stays.
    let r = resized(b, (-1, -1), -30, 10, false, PROGRAM, 0);
    assert_eq!((r.x, r.y, r.x + r.w, r.y + r.h), (70, 110, 300, 200));
    // The height leads when it changed more; the right side stays.
    let r = resized(b, (-1, 1), 0, 100, true, PROGRAM, 0);
    assert_eq!((r.w, r.h, r.x + r.w), (400, 200, 300));
    // Never smaller than 2 px, never flipped.
    let r = resized(b, (1, 1), -500, -500, false, PROGRAM, 0);
    assert_eq!((r.x, r.y, r.w, r.h), (100, 100, 2, 2));
    // The dragged side snaps to the program's right edge.
    assert_eq!(resized(b, (1, 0), 975, 0, false, PROGRAM, 8).w, 1180);
}

#[test]
fn a_drag_is_one_undo_step_and_undo_restores_every_edit_in_turn() {
    let (mut s, mut current) = set();
    let c = good(&s);
    let mut e = Editor::default();
    let mut apply =
        |e: &mut Editor, s: &mut SceneSet, edit| e.apply(s, &mut current, &c, PROGRAM, edit);
    let original = s.clone();
    // A click alone changes nothing and takes no step.
    apply(
        &mut e,
        &mut s,
        Edit::Press {
            x: 1000,
            y: 600,
            grab: 6,
        },
    );
    apply(&mut e, &mut s, Edit::Release);
    assert_eq!(e.selected, Some(1));
    assert!(!e.can_undo());
    // Drag the camera box by (-101, -57) in three moves.
    apply(
        &mut e,
        &mut s,
        Edit::Press {
            x: 1000,
            y: 600,
            grab: 6,
        },
    );
    for (x, y) in [(990, 590), (950, 560), (899, 543)] {
        apply(
            &mut e,
            &mut s,
            Edit::Drag {
                x,
                y,
                keep_aspect: false,
                snap: 0,
            },
        );
    }
    apply(&mut e, &mut s, Edit::Release);
    let l = &s.scenes[0].layers[1];
    assert_eq!((l.x, l.y), (928 - 101, 508 - 57));
    let after_drag = s.clone();
    // Its bottom right handle by (+40, +10) with Shift: 16:9 kept.
    let (hx, hy) = (l.x + 320, l.y + 180);
    apply(
        &mut e,
        &mut s,
        Edit::Press {
            x: hx,
            y: hy,
            grab: 6,
        },
    );
    apply(
        &mut e,
        &mut s,
        Edit::Drag {
            x: hx + 40,
            y: hy + 10,
            keep_aspect: true,
            snap: 0,
        },
    );
    apply(&mut e, &mut s, Edit::Release);
    let l = &s.scenes[0].layers[1];
    assert_eq!((l.width, l.height), (Some(360), Some(203)));
    // Two nudges: one step.
    apply(&mut e, &mut s, Edit::Nudge { dx: 1, dy: 0 });
    apply(&mut e, &mut s, Edit::Nudge { dx: 0, dy: -1 });
    assert_eq!(s.scenes[0].layers[1].x, 928 - 101 + 1);
    let after_resize = {
        let mut a = s.clone();
        a.scenes[0].layers[1].x -= 1;
        a.scenes[0].layers[1].y += 1;
        a
    };
    assert!(apply(&mut e, &mut s, Edit::Undo));
    assert_eq!(s, after_resize);
    assert!(apply(&mut e, &mut s, Edit::Undo));
    assert_eq!(s, after_drag);
    assert!(apply(&mut e, &mut s, Edit::Undo));
    assert_eq!(s, original);
    assert!(!apply(&mut e, &mut s, Edit::Undo));
}

#[test]
fn scenes_are_added_renamed_duplicated_moved_and_removed() {
    let (mut s, mut current) = set();
    let c = good(&s);
    let mut e = Editor::default();
    let mut apply =
        |s: &mut SceneSet, current: &mut String, edit| e.apply(s, current, &c, PROGRAM, edit);
    apply(&mut s, &mut current, Edit::AddScene);
    assert_eq!(current, "Scene");
    apply(&mut s, &mut current, Edit::AddSource("text"));
    apply(
        &mut s,
        &mut current,
        Edit::RenameScene {
            index: 1,
            name: "Live".into(),
        },
    );
    assert_eq!(current, "Live");
    apply(&mut s, &mut current, Edit::DuplicateScene(1));
    apply(&mut s, &mut current, Edit::MoveScene { index: 2, up: true });
    let names: Vec<_> = s.scenes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Screen + camera", "Live 2", "Live"]);
    s.validate(Path::new("/")).unwrap();
    // The duplicate shares the source; removing both scenes drops it.
    apply(&mut s, &mut current, Edit::RemoveScene(2));
    assert_eq!(current, "Live 2");
    assert!(s.source("Text").is_some());
    apply(&mut s, &mut current, Edit::RemoveScene(1));
    assert!(s.source("Text").is_none());
    assert_eq!(current, "Screen + camera");
    // The last scene stays.
    apply(&mut s, &mut current, Edit::RemoveScene(0));
    assert_eq!(s.scenes.len(), 1);
    // A name taken twice does not validate, and says which.
    apply(&mut s, &mut current, Edit::AddScene);
    apply(
        &mut s,
        &mut current,
        Edit::RenameScene {
            index: 1,
            name: "Screen + camera".into(),
        },
    );
    let problem = s.validate(Path::new("/")).unwrap_err();
    assert_eq!(problem.field, "name");
}

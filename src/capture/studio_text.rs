//! The studio's generated sources brought up to a frame's time: the test pattern, and text
//! with its live fields ({clock}, {elapsed}, {countdown}).

use std::fmt::Write as _;

use super::*;

/// Brings a generated source up to `pts`: the test pattern drawn once per frame, the text's
/// live fields once per second.
pub(super) fn prepare(
    source: &mut OpenSource,
    text: &TextRenderer,
    pts: MediaTime,
) -> Result<(), CaptureError> {
    match &mut source.content {
        Content::Test {
            pattern,
            frame,
            drawn_at,
        } if *drawn_at != Some(pts) => {
            pattern.fill(pts, frame)?;
            *drawn_at = Some(pts);
            source.version += 1;
        }
        Content::Text {
            spec,
            image,
            made_for,
            words,
            since,
            drawn,
        } => {
            // Not drawn in the last frames: it comes onto the program now.
            if drawn.is_none_or(|d| pts - d > SHOWN_AGAIN || pts < d) {
                *since = pts;
            }
            let countdown = spec.countdown.map(|d| (d, *since));
            *drawn = Some(pts);
            let live = spec.text.contains("{clock}")
                || spec.text.contains("{elapsed}")
                || spec.text.contains("{countdown}");
            let now = if spec.text.contains("{clock}") {
                jiff::Timestamp::now().as_second()
            } else if let Some((d, start)) = countdown {
                // The words change with the seconds left (and the elapsed time, if shown).
                remaining_secs(d, start, pts)
                    .wrapping_mul(1_000_003)
                    .wrapping_add(pts.as_secs_floor())
            } else {
                pts.as_secs_floor()
            };
            let key = if live { now } else { 0 };
            if *made_for != Some(key) {
                *made_for = Some(key);
                words.clear();
                expand(&spec.text, pts, countdown, words);
                text.render(spec, words, image);
                source.version += 1;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A text not drawn for longer than this comes onto the program again when next drawn (its
/// countdown starts over).
const SHOWN_AGAIN: MediaTime = MediaTime::from_millis(250);

/// Whole seconds left of a countdown of `length` started at `start`, at `pts` (rounded up:
/// it shows the full length at its start and 00:00 only at its end).
fn remaining_secs(length: MediaTime, start: MediaTime, pts: MediaTime) -> i64 {
    let left = (length - (pts - start)).as_nanos().max(0);
    (left + 999_999_999) / 1_000_000_000
}

/// The text with its live fields filled in; `countdown`: its length and start.
pub(super) fn expand(
    template: &str,
    pts: MediaTime,
    countdown: Option<(MediaTime, MediaTime)>,
    out: &mut String,
) {
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{clock}") {
            let now = jiff::Zoned::now();
            let _ = write!(out, "{}", now.strftime("%H:%M:%S"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{elapsed}") {
            let s = pts.as_secs_floor().max(0);
            let _ = write!(out, "{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{countdown}") {
            let s = countdown.map_or(0, |(d, start)| remaining_secs(d, start, pts));
            if s >= 3600 {
                let _ = write!(out, "{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
            } else {
                let _ = write!(out, "{:02}:{:02}", s / 60, s % 60);
            }
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
}

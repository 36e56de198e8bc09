//! The log view's source: a `tracing` layer that keeps the last lines in a bounded ring.
//!
//! Lines are formatted once when logged (level, message and fields); the ring holds at most
//! [`LOG_LINES`] and drops the oldest. Stream keys never reach it: the library masks them
//! before logging (see `output::rtmp::url`).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Lines kept for the log view.
pub const LOG_LINES: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub text: String,
    /// Increasing number, so a reader can tell new lines from seen ones.
    pub seq: u64,
    /// When it was logged.
    pub time: SystemTime,
}

impl LogLine {
    /// The time of day it was logged, `HH:MM:SS` in the machine's time zone.
    pub fn clock(&self) -> String {
        let t = local(self.time);
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

/// As copied and saved: the full local time (RFC 3339 with the zone's offset, milliseconds),
/// the level and the message.
impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = local(self.time);
        let offset = t.offset().seconds();
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs() / 60;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}:{:02} {:>5} {}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond(),
            offset / 60,
            offset % 60,
            self.level,
            self.text
        )
    }
}

/// `time` in the machine's time zone (`TZ`, else /etc/localtime; UTC if neither is readable).
fn local(time: SystemTime) -> jiff::Zoned {
    jiff::Timestamp::try_from(time)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::system())
}

/// The ring of recent log lines, shared between the layer and the app.
#[derive(Debug, Default)]
pub struct LogRing {
    lines: Mutex<VecDeque<LogLine>>,
    seq: AtomicU64,
}

impl LogRing {
    pub fn push(&self, level: Level, text: String) {
        let seq = self.seq.fetch_add(1, Relaxed) + 1;
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == LOG_LINES {
                lines.pop_front();
            }
            lines.push_back(LogLine {
                level,
                text,
                seq,
                time: SystemTime::now(),
            });
        }
    }

    /// Lines newer than `seen`, oldest first.
    pub fn since(&self, seen: u64) -> Vec<LogLine> {
        self.lines
            .lock()
            .map(|l| l.iter().filter(|l| l.seq > seen).cloned().collect())
            .unwrap_or_default()
    }
}

/// The layer feeding a [`LogRing`] with events at `min` level or more severe.
pub struct RingLayer {
    ring: Arc<LogRing>,
    min: Level,
}

impl RingLayer {
    pub fn new(ring: Arc<LogRing>, min: Level) -> Self {
        Self { ring, min }
    }
}

#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        // Level ordering in tracing: TRACE > DEBUG > INFO > WARN > ERROR.
        if level > self.min {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        self.ring.push(level, text.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// The ring after running `f` with a subscriber feeding it at INFO.
    fn logged(f: impl FnOnce()) -> Arc<LogRing> {
        let ring = Arc::new(LogRing::default());
        let subscriber =
            tracing_subscriber::registry().with(RingLayer::new(ring.clone(), Level::INFO));
        tracing::subscriber::with_default(subscriber, f);
        ring
    }

    #[test]
    fn keeps_the_last_lines_at_or_above_the_level() {
        let ring = logged(|| {
            tracing::debug!("hidden");
            tracing::warn!(output = "rtmp://h/app/****", "reconnecting");
            for i in 0..LOG_LINES {
                tracing::info!("line {i}");
            }
        });
        let lines = ring.since(0);
        assert_eq!(lines.len(), LOG_LINES);
        assert_eq!(
            lines.last().unwrap().text,
            format!("line {}", LOG_LINES - 1)
        );
        assert!(ring.since(lines.last().unwrap().seq).is_empty());
        let ring = logged(|| {
            tracing::debug!("hidden");
            tracing::warn!(output = "rtmp://h/app/****", "reconnecting");
        });
        let lines = ring.since(0);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].level, Level::WARN);
        assert_eq!(lines[0].text, "reconnecting output=rtmp://h/app/****");
        // Copied and saved with the time, shown with the time of day.
        let shown = lines[0].to_string();
        let stamp: jiff::Timestamp = shown.split(' ').next().unwrap().parse().unwrap();
        assert!(
            shown.ends_with(" WARN reconnecting output=rtmp://h/app/****")
                && SystemTime::from(stamp) <= SystemTime::now(),
            "{shown}"
        );
        let clock = lines[0].clock();
        assert_eq!(clock.len(), 8, "{clock}");
        assert_eq!(clock.as_bytes()[2], b':');
    }
}

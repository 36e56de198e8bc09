//! `onair`: tracing, then the window (no arguments) or the command line. Everything else lives
//! in the library.

mod cli;
mod generate;
mod scenes_cli;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use onair::app::log::{LogRing, RingLayer};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    let ring = Arc::new(LogRing::default());
    // Colour only on a terminal, and not when NO_COLOR is set (no-color.org).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        );
    // The window's log view: onair's own messages, info and above.
    let view = RingLayer::new(ring.clone(), tracing::Level::INFO).with_filter(
        tracing_subscriber::filter::Targets::new().with_target("onair", tracing::Level::INFO),
    );
    tracing_subscriber::registry()
        .with(stderr)
        .with(view)
        .init();
    raise_open_file_limit();
    if std::env::args_os().len() > 1 {
        return cli::main();
    }
    match onair::ui::run(ring, Arc::new(AtomicBool::new(false))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: cannot open the window: {e}; without a display, use `onair broadcast` (see `onair --help`)"
            );
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit on open files to the hard one: the usual soft 1024 is reached by a
/// preview server under load plus the outputs' files, and every file the process opens
/// counts. Not raising it is not an error.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        // macOS refuses more than OPEN_MAX (10240) even when the hard limit is "unlimited".
        let hard = if cfg!(target_os = "macos") {
            limit.maximum.map_or(10_240, |h| h.min(10_240))
        } else {
            match limit.maximum {
                Some(h) => h,
                None => return,
            }
        };
        if limit.current.is_some_and(|soft| soft < hard) {
            let was = limit.current;
            limit.current = Some(hard);
            match setrlimit(Resource::Nofile, limit) {
                Ok(()) => tracing::debug!(from = ?was, to = hard, "raised the open-file limit"),
                Err(e) => tracing::debug!("cannot raise the open-file limit: {e}"),
            }
        }
    }
}

//! `onair`: tracing, then the window (no arguments) or the command line. Everything else lives
//! in the library.

mod cli;
mod generate;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use onair::app::log::{LogRing, RingLayer};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    let ring = Arc::new(LogRing::default());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
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

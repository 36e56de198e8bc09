#!/usr/bin/env bash
# Sets up (system packages, Rust), builds onair in release mode and runs it with the given
# arguments: no arguments opens the window; e.g. `bash packaging/run.sh broadcast --record
# first-take.mp4 --duration 10` records headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --bin onair
exec target/release/onair "$@"

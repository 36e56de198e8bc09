#!/usr/bin/env bash
# Sets up everything the tests need, then runs every check: formatting, clippy with warnings
# as errors, and every unit and integration test (the integration tests start their own peers
# on 127.0.0.1 and stop them by pid).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets

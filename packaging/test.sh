#!/usr/bin/env bash
# Sets up everything the tests need, then runs every check: formatting, clippy with warnings
# as errors, and every unit and integration test (the integration tests start their own peers
# on 127.0.0.1 and stop them by pid).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
# A one-off build in CI gains nothing from incremental state (about 3 GB of it).
if [[ -n ${CI:-} ]]; then export CARGO_INCREMENTAL=0; fi
free_gb=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
if ((free_gb < 10)); then
  echo "warning: ${free_gb} GB free here; a clean test build needs about 10 GB" >&2
fi
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets

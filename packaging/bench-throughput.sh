#!/usr/bin/env bash
# Pipeline throughput vs the encoder alone, on the same frames in the same run (onair bench),
# against the encoder fed from memory (enc_fps, ratio) and fed frames its core just wrote
# (enc_hot, ratio_h),
# at 720p30 and 1080p30, with 1 and 2 OpenH264 threads. Each configuration is one
# `onair bench --rounds ROUNDS`: encoder alone and pipeline alternated ROUNDS times, the
# fastest of each kept (the least disturbed by other work on the machine). Prints one line per
# configuration and keeps every JSON in OUT_DIR.
#
#   bash packaging/bench-throughput.sh [FRAMES] [VIDEO]     # default 600 test (or y4m:FILE)
#   (environment: ROUNDS=5, PRESETS="720p30 1080p30", THREADS="1 2", OUT_DIR=throughput-out)
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-600}
video=${2:-test}
rounds=${ROUNDS:-5}
presets=${PRESETS:-720p30 1080p30}
threads_list=${THREADS:-1 2}
out=${OUT_DIR:-throughput-out}
onair=${ONAIR_BIN:-}
if [[ -z $onair ]]; then
  cargo build --release --locked --bin onair >&2
  onair="${CARGO_TARGET_DIR:-target}/release/onair"
fi
mkdir -p "$out"
printf '%-8s %-7s %9s %9s %7s %9s %7s %8s %8s %8s %8s  %s\n' preset threads pipe_fps enc_fps ratio enc_hot ratio_h convert encode mux write "rounds (pipeline/encoder fps)"
for preset in $presets; do
  for t in $threads_list; do
    f="$out/$preset-t$t.json"
    RUST_LOG=error "$onair" bench --preset "$preset" --frames "$frames" --video "$video" \
      --encoder-threads "$t" --rounds "$rounds" > "$f" 2>/dev/null
    python3 - "$f" "$preset" "$t" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); s = j["stage_ms_per_frame"]
rounds = " ".join(f"{p:.0f}/{e:.0f}" for p, e in zip(j["pipeline_fps_rounds"], j["encoder_alone_fps_rounds"]))
print(f"{sys.argv[2]:8} {sys.argv[3]:7} {j['pipeline']['fps']:9.1f} {j['encoder_alone']['fps']:9.1f} "
      f"{j['throughput_ratio']:7.3f} {j['encoder_alone_just_written']['fps']:9.1f} {j['throughput_ratio_vs_just_written']:7.3f} "
      f"{s['convert']:8.3f} {s['encode']:8.3f} {s['mux']:8.3f} {s['write']:8.3f}  {rounds}")
PY
  done
done

#!/usr/bin/env bash
# What the window costs with nothing live, now that the program is always on: the window
# opened under Xvfb (1280x800, Mesa llvmpipe) with the 720p30 preset and a screen scene (the
# whole Xvfb screen captured), nothing live. CPU time of the process over SECONDS (default 30)
# from /proc/PID/stat, as % of one core, RUNS times (default 3), with a split by thread from
# /proc/PID/task/*/stat: the window's thread (the main one), Mesa's rasterizer (`llvmpipe-*`), the
# program (`src-video`, `cap-*`: capture and compositing; `src-audio`: the mixer), the rest.
# Also checks that no encoder thread (`enc-*`) exists while idle.
#
#   bash packaging/idle-cpu.sh [SECONDS] [RUNS]
#   BIN=path/to/onair: that binary (default: a release build made here)
#   VIDEO=TestPattern: the test pattern instead of the screen
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
runs="${2:-3}"
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --quiet --bin onair
  BIN=target/release/onair
fi
work="$(mktemp -d)"
display=":$(( 250 + RANDOM % 50 ))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
printf 'preset = "720p30"\nvideo = "%s"\nrecord_folder = "%s"\n' "${VIDEO:-Screen}" "$work" >"$work/gui.toml"
hz=$(getconf CLK_TCK)
threads() { # PID -> "name ticks" per thread; the main thread (the window's) as `window`
  for t in /proc/"$1"/task/*; do
    name="$(tr ' ' _ <"$t/comm")"
    [[ "${t##*/}" == "$1" ]] && name=window
    printf '%s %s\n' "$name" "$(awk '{print $14 + $15}' "$t/stat")"
  done
}
DISPLAY="$display" ONAIR_CONFIG_DIR="$work" ONAIR_KEYRING=off RUST_LOG=warn "$BIN" 2>"$work/gui.log" &
app=$!
for _ in $(seq 100); do
  win=$(DISPLAY="$display" xdotool search --onlyvisible --name '^onair$' 2>/dev/null | head -1) && [[ -n "$win" ]] && break
  sleep 0.2
done
sleep 5
for run in $(seq "$runs"); do
  a=$(awk '{print $14 + $15}' "/proc/$app/stat"); before=$(threads "$app")
  sleep "$secs"
  b=$(awk '{print $14 + $15}' "/proc/$app/stat"); after=$(threads "$app")
  encoders=$(grep -c '^enc-' <<<"$after" || true)
  split=$(join <(sort <<<"$before") <(sort <<<"$after") | awk -v hz="$hz" -v s="$secs" '
    { d = ($3 - $2) * 100 / hz / s }
    $1 == "window" { ui += d; next }
    $1 ~ /^llvmpipe/ { raster += d; next }
    $1 == "src-video" || $1 ~ /^cap-/ { video += d; next }
    $1 == "src-audio" { audio += d; next }
    { rest += d }
    END { printf "\"window_thread\": %.1f, \"software_rasterizer\": %.1f, \"program_video\": %.1f, \"program_audio\": %.1f, \"rest\": %.1f", ui, raster, video, audio, rest }')
  total=$(awk -v a="$a" -v b="$b" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.1f", (b - a) * 100 / hz / s }')
  echo "{\"run\": $run, \"seconds\": $secs, \"video\": \"${VIDEO:-Screen}\", \"idle_cpu_percent\": $total, $split, \"encoder_threads\": $encoders, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
done
DISPLAY="$display" xdotool key --window "$win" ctrl+q || kill "$app"
wait "$app" || true

#!/usr/bin/env bash
# Measures what the window costs: CPU (% of one core) of the GUI idle, the GUI while
# recording 720p30 test sources, and the same recording headless (`onair broadcast`), each over
# SECONDS (default 20) under Xvfb, from /proc/PID/stat. Release build. While recording it also
# splits the GUI process's CPU by thread: the window's own thread (`onair`: egui, tessellation,
# GL calls), Mesa's software rasterizer (`llvmpipe-*`: what a GPU does on a real desktop), and
# the rest (the engine).
#
#   bash packaging/gui-cpu.sh [SECONDS]
#   (PREVIEW_FPS=N: the window's preview rate; unset: automatic, which is 5 fps here since Xvfb
#   has no GPU and the window is drawn by llvmpipe, 15 with a GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
cargo build --release --quiet --bin onair
bin=target/release/onair
work="$(mktemp -d)"
display=":$(( 200 + RANDOM % 50 ))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
printf 'preset = "720p30"\nrecord_folder = "%s"\n' "$work" >"$work/gui.toml"
if [[ -n "${PREVIEW_FPS:-}" ]]; then printf 'preview_fps = %s\n' "$PREVIEW_FPS" >>"$work/gui.toml"; fi
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
measure() { # PID SECONDS -> percent of one core
  local a b; a=$(ticks "$1"); sleep "$2"; b=$(ticks "$1")
  awk -v a="$a" -v b="$b" -v hz="$hz" -v s="$2" 'BEGIN { printf "%.1f", (b - a) * 100 / hz / s }'
}
threads() { # PID -> "name ticks" per thread
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
  done
}
by_thread() { # PID SECONDS -> "ui raster rest" percents of one core
  local before after; before=$(threads "$1"); sleep "$2"; after=$(threads "$1")
  join <(sort <<<"$before") <(sort <<<"$after") | awk -v hz="$hz" -v s="$2" '
    { d = ($3 - $2) * 100 / hz / s }
    $1 == "onair" { ui += d; next }
    $1 ~ /^llvmpipe/ { raster += d; next }
    { rest += d }
    END { printf "%.1f %.1f %.1f", ui, raster, rest }'
}
DISPLAY="$display" ONAIR_CONFIG_DIR="$work" ONAIR_KEYRING=off RUST_LOG=warn,onair::ui=info "$bin" 2>"$work/gui.log" &
app=$!
for _ in $(seq 100); do
  win=$(DISPLAY="$display" xdotool search --onlyvisible --name '^onair$' 2>/dev/null | head -1) && [[ -n "$win" ]] && break
  sleep 0.2
done
sleep 3
idle=$(measure "$app" "$secs")
DISPLAY="$display" xdotool windowfocus --sync "$win"
DISPLAY="$display" xdotool key ctrl+r
sleep 3
recording=$(measure "$app" "$secs")
read -r ui raster rest <<<"$(by_thread "$app" "$secs")"
DISPLAY="$display" xdotool key ctrl+r
sleep 2
DISPLAY="$display" xdotool key ctrl+q
wait "$app"
"$bin" broadcast --preset 720p30 --record "$work/headless.mp4" --duration $((secs + 6)) 2>/dev/null &
cli=$!
sleep 3
headless=$(measure "$cli" "$secs")
wait "$cli"
renderer=$(sed 's/\x1b\[[0-9;]*m//g' "$work/gui.log" | grep -o 'renderer=.*' | head -1 | cut -d= -f2- || true)
echo "{\"seconds\": $secs, \"preview_fps\": \"${PREVIEW_FPS:-auto}\", \"software_renderer\": \"${renderer:-none}\", \"gui_idle_cpu_percent\": $idle, \"gui_recording_720p30_cpu_percent\": $recording, \"gui_recording_threads_percent\": {\"window_thread\": $ui, \"software_rasterizer\": $raster, \"engine_and_rest\": $rest}, \"headless_recording_720p30_cpu_percent\": $headless}"

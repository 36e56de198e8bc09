#!/usr/bin/env bash
# Makes README's screenshot of the main window: starts Xvfb, opens onair with a throwaway
# config (one destination, the key masked), records the test sources for a few seconds so the
# program preview and the stats show, takes the picture, then stops and quits from the keyboard.
#
#   bash packaging/screenshot.sh [OUT.png]     (default: assets/screenshot.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-assets/screenshot.png}"
for tool in Xvfb xdotool import; do
  command -v "$tool" >/dev/null || { echo "screenshot: $tool is missing: bash packaging/setup.sh --test" >&2; exit 1; }
done
cargo build --quiet --bin onair
work="$(mktemp -d)"
display=":$(( 150 + RANDOM % 50 ))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
cat >"$work/gui.toml" <<TOML
preset = "720p30"
record_folder = "$work"
hls_folder = "$work/hls"

[[destinations]]
id = 1
name = "Twitch"
service = "Twitch"
server = "rtmp://live.twitch.tv/app"
enabled = true
TOML
printf '[keys]\n1 = "live_000000000_notarealkey"\n' >"$work/keys.toml"
chmod 600 "$work/keys.toml"
DISPLAY="$display" ONAIR_CONFIG_DIR="$work" RUST_LOG=warn ./target/debug/onair &
app=$!
for _ in $(seq 100); do
  win=$(DISPLAY="$display" xdotool search --onlyvisible --name '^onair$' 2>/dev/null | head -1) && [[ -n "$win" ]] && break
  sleep 0.2
done
[[ -n "${win:-}" ]] || { echo "screenshot: the window did not open" >&2; exit 1; }
DISPLAY="$display" xdotool windowfocus --sync "$win"   # no window manager on Xvfb
DISPLAY="$display" xdotool key ctrl+r
sleep 6
DISPLAY="$display" import -window root "$out"
DISPLAY="$display" xdotool key ctrl+r
sleep 2
DISPLAY="$display" xdotool key ctrl+q
wait "$app"
echo "screenshot: wrote $out" >&2

#!/usr/bin/env bash
# WebRTC latency: onair publishes the test sources over WHIP to aiortc (the test's WHIP
# endpoint, tests/whip/whip_server.py, on 127.0.0.1) beside an RTMP output to a local
# nginx-rtmp, for SECONDS, and reports per output the capture-to-departure latency from
# --stats (WHIP: video to a frame's last RTP packet leaving, audio to its Opus packet leaving;
# RTMP: to the socket), with the target: one frame interval plus the mean encode time.
#
#   bash packaging/whip-latency.sh [PRESET] [SECONDS] [OUT_DIR]   # default: 720p30 30 ./whip-out
#   (environment: ONAIR_BIN=path to use a given binary; otherwise a release build made here)
#
# Needs `bash packaging/setup.sh --test` (aiortc in tests/whip/.venv, nginx-rtmp). OUT_DIR keeps
# stats.jsonl, receiver.json and summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-720p30}
seconds=${2:-30}
out=${3:-whip-out}
python=tests/whip/.venv/bin/python
module=/usr/lib/nginx/modules/ngx_rtmp_module.so
[[ -x $python ]] || { echo "whip-latency: missing $python (bash packaging/setup.sh --test)" >&2; exit 1; }
[[ -f $module ]] || { echo "whip-latency: missing $module (bash packaging/setup.sh --test)" >&2; exit 1; }
onair=${ONAIR_BIN:-}
if [[ -z $onair ]]; then
  cargo build --release --locked --bin onair >&2
  onair="${CARGO_TARGET_DIR:-target}/release/onair"
fi

mkdir -p "$out"
rm -f "$out/stats.jsonl" "$out/receiver.json"
work=$(mktemp -d /tmp/onair-whip-XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
whip_port=$(free_port)
rtmp_port=$(free_port)
cat > "$work/nginx.conf" <<CONF
load_module $module;
daemon off;
master_process on;
worker_processes 1;
user root;
pid $work/nginx.pid;
error_log $work/error.log info;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:$rtmp_port; application live { live on; } } }
CONF
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
"$python" tests/whip/whip_server.py --port "$whip_port" --out "$out/receiver.json" > "$work/ready" &
whip_pid=$!
cleanup() { kill "$whip_pid" "$nginx_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do grep -q ready "$work/ready" 2>/dev/null && break; sleep 0.1; done
status=0
"$onair" broadcast --preset "$preset" --duration "$seconds" \
  --whip "http://127.0.0.1:$whip_port/whip/latency" \
  --rtmp "rtmp://127.0.0.1:$rtmp_port/live/latency" \
  --stats "$out/stats.jsonl" >&2 || status=$?
sleep 0.5

python3 - "$out" "$preset" "$seconds" <<'PY'
import json, sys
out, preset, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [json.loads(l) for l in open(f"{out}/stats.jsonl") if l.strip().endswith("}")]
last = lines[-1]
v = last["video"]
encode_ms = v["encode_nanos_total"] / max(v["encoded"], 1) / 1e6
def ms(h, key):
    return None if h is None else h[key] / 1000
summary = {
    "preset": preset, "seconds": seconds,
    "frames_encoded": v["encoded"], "encode_ms_per_frame": round(encode_ms, 3),
    "latency_target_ms": round(1000 / int(preset.split("p")[1]) + encode_ms, 3),
    "outputs": [{
        "kind": o["kind"], "state": o["state"], "packets": o["packets"],
        "reconnects": o["reconnects"],
        "video_samples": o["latency"]["samples"],
        "video_p50_ms": ms(o["latency"], "p50_us"), "video_p99_ms": ms(o["latency"], "p99_us"),
        "video_max_ms": ms(o["latency"], "max_us"),
        "audio_p50_ms": ms(o.get("audio_latency"), "p50_us"),
        "audio_p99_ms": ms(o.get("audio_latency"), "p99_us"),
    } for o in last["outputs"]],
}
receiver = json.load(open(f"{out}/receiver.json"))
for k in ("posts", "sessions", "video_frames", "audio_frames", "decode_errors"):
    summary["receiver_" + k] = receiver[k]
# A/V offset at the receiver (each track's RTP time on the sender's clock through its RTCP
# sender reports): each second's white square against the nearest beep onset, in ms.
offsets = []
for v in receiver["video_marks"]:
    if offsets and v - last_v < 0.5:
        continue
    last_v = v
    if receiver["audio_onsets"]:
        a = min(receiver["audio_onsets"], key=lambda a: abs(a - v))
        offsets.append(round((a - v) * 1000, 1))
summary["av_offset_ms_per_second"] = offsets
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
exit "$status"

#!/usr/bin/env bash
# Picture quality per bit: onair beside ffmpeg's libx264 veryfast (OBS's default CPU encoder)
# on the same Y4M frames, at a preset's bitrate. Prints one table row per clip and encoder.
#
#   bash packaging/quality.sh [CLIP...]      # default: text desktop mandelbrot camera game slide
#   (environment: PRESET=720p30, SECS=10, DIR=/tmp/onair-quality (clips and results),
#    TUNES="before default" onair --tune settings, one run each ("default": onair's own),
#    X264="veryfast baseline" (x264 veryfast High, and veryfast with -profile baseline),
#    ONAIR_BIN=path (default: cargo build --release))
#
#   onair   onair bench --quality --video y4m:CLIP --audio none --outputs flv --pipeline-only
#           [--tune T]: the real pipeline, judged in-process (OpenH264's decoder against the
#           source): mean and highest 2 s bitrate, PSNR-Y (from the mean MSE, as ffmpeg's psnr
#           filter sums it up; 5th percentile of the frames), SSIM (ffmpeg's ssim `All`), and
#           the H.264 thread's ms per frame (`stage_ms_per_frame.encode`, wall clock: noisy)
#   x264    ffmpeg -c:v libx264 -preset veryfast -b:v K -maxrate K -bufsize 2K -g 2s
#           (OBS's x264 in CBR), judged by ffmpeg's psnr and ssim filters; ms per frame is
#           ffmpeg's user CPU time (GNU time) over the frames (x264 uses both cores: CPU)
#
# Results: DIR/results.jsonl (one JSON object a row, appended) and the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${PRESET:-720p30}
secs=${SECS:-10}
dir=${DIR:-/tmp/onair-quality}
tunes=${TUNES:-before default}
x264=${X264:-veryfast baseline}
clips=("$@")
((${#clips[@]})) || clips=(text desktop mandelbrot camera game slide)
case $preset in
  480p30) W=854 H=480 FPS=30 K=1000 ;;
  720p30) W=1280 H=720 FPS=30 K=3000 ;;
  720p60) W=1280 H=720 FPS=60 K=4500 ;;
  1080p30) W=1920 H=1080 FPS=30 K=4500 ;;
  1080p60) W=1920 H=1080 FPS=60 K=6000 ;;
  *) echo "quality: PRESET must be a built-in preset (480p30 720p30 720p60 1080p30 1080p60)" >&2; exit 1 ;;
esac
for tool in ffmpeg ffprobe python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "quality: $tool missing (bash packaging/setup.sh --test)" >&2; exit 1; }
done
if [[ -n ${ONAIR_BIN:-} ]]; then onair=$ONAIR_BIN; else
  cargo build --release --locked --bin onair >&2
  onair=${CARGO_TARGET_DIR:-target}/release/onair
fi
mkdir -p "$dir/clips"
W=$W H=$H FPS=$FPS SECS=$secs bash packaging/quality-clips.sh "$dir/clips" "${clips[@]}"
results="$dir/results.jsonl"
work=$(mktemp -d /tmp/onair-quality-XXXXXX)
trap 'rm -rf "$work"' EXIT

# judge_x264 CLIP ENCODED LABEL CPU_S: ffmpeg's psnr/ssim and the packet sizes, as one JSON row.
judge_x264() {
  ffmpeg -nostdin -v error -i "$2" -i "$1" -lavfi \
    "[0:v]split[a][b];[1:v]split[c][d];[a][c]psnr=stats_file=$work/psnr.log;[b][d]ssim=stats_file=$work/ssim.log" \
    -f null -
  ffprobe -v error -select_streams v:0 -show_entries packet=size -of csv=p=0 "$2" > "$work/sizes"
  python3 - "$work" "$FPS" "$K" "$3" "$4" "$clip" "$preset" <<'EOF'
import json, math, sys
work, fps, kbps, label, cpu, clip, preset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6], sys.argv[7]
mse, psnr = [], []
for line in open(f"{work}/psnr.log"):
    f = dict(kv.split(":") for kv in line.split())
    mse.append(float(f["mse_y"]))
    psnr.append(100.0 if f["psnr_y"] == "inf" else float(f["psnr_y"]))
ssim = [float(dict(kv.split(":") for kv in l.split() if ":" in kv)["All"]) for l in open(f"{work}/ssim.log")]
sizes = [int(x) for x in open(f"{work}/sizes").read().split()]
n, win = len(sizes), 2 * fps
peak = max(sum(sizes[i:i + win]) for i in range(max(1, n - win + 1)))
m = sum(mse) / len(mse)
print(json.dumps({"clip": clip, "preset": preset, "encoder": label, "frames": len(psnr),
  "mean_kbps": sum(sizes) * 8 / (n / fps) / 1e3, "max_2s_kbps": peak * 8 / (min(n, win) / fps) / 1e3,
  "psnr_y": 10 * math.log10(255 ** 2 / m) if m > 0 else 100.0,
  "psnr_y_p5": sorted(psnr)[(len(psnr) - 1) // 20], "ssim": sum(ssim) / len(ssim),
  "ms_per_frame": cpu * 1e3 / len(psnr), "ms_kind": "cpu", "target_kbps": kbps}))
EOF
}

for clip in "${clips[@]}"; do
  src="$dir/clips/$clip-${W}x${H}p${FPS}.y4m"
  cat "$src" > /dev/null # into the page cache
  for tune in $tunes; do
    args=(bench --quality --preset "$preset" --video "y4m:$src" --audio none --outputs flv --pipeline-only)
    [[ $tune == default ]] || args+=(--tune "$tune")
    "$onair" "${args[@]}" > "$work/onair.json"
    python3 - "$work/onair.json" "$clip" "$preset" "$tune" "$K" >> "$results" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); q = j["quality"]
print(json.dumps({"clip": sys.argv[2], "preset": sys.argv[3], "encoder": "onair " + sys.argv[4],
  "tuning": j["tuning"], "frames": q["frames"], "mean_kbps": q["mean_kbps"], "max_2s_kbps": q["max_2s_kbps"],
  "psnr_y": q["psnr_y"], "psnr_y_p5": q["psnr_y_p5"], "ssim": q["ssim"],
  "ms_per_frame": j["stage_ms_per_frame"]["encode"], "ms_kind": "wall", "target_kbps": int(sys.argv[5])}))
EOF
  done
  for x in $x264; do
    profile=()
    [[ $x == baseline ]] && profile=(-profile:v baseline)
    enc="$work/x264.mp4"
    # ffmpeg's user CPU seconds (x264's threads included), from GNU time.
    /usr/bin/time -f %U -o "$work/cpu.txt" ffmpeg -nostdin -y -v error -i "$src" -c:v libx264 \
      -preset veryfast "${profile[@]}" -b:v "${K}k" -maxrate "${K}k" -bufsize "$((2 * K))k" \
      -g $((2 * FPS)) "$enc"
    cpu=$(tail -1 "$work/cpu.txt")
    judge_x264 "$src" "$enc" "x264 $x" "${cpu:-0}" >> "$results"
  done
done

python3 - "$results" "$preset" "${clips[@]}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
preset, clips = sys.argv[2], sys.argv[3:]
last = {}
for r in rows:
    if r["preset"] == preset and r["clip"] in clips:
        last[(r["clip"], r["encoder"])] = r   # the newest run of each
print(f"preset {preset}")
print("| clip | encoder | kbit/s | max 2 s kbit/s | PSNR-Y dB | PSNR-Y p5 | SSIM | ms/frame |")
print("|---|---|---|---|---|---|---|---|")
for (clip, enc), r in sorted(last.items(), key=lambda kv: (clips.index(kv[0][0]), kv[0][1])):
    print(f"| {clip} | {enc} | {r['mean_kbps']:.0f} | {r['max_2s_kbps']:.0f} | {r['psnr_y']:.2f} | "
          f"{r['psnr_y_p5']:.2f} | {r['ssim']:.4f} | {r['ms_per_frame']:.2f} {r['ms_kind']} |")
EOF

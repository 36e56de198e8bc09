#!/bin/bash
# usage: runall.sh TAG [BIN]
tag=$1; bin=${2:-/work/main/target/debug/onair}
run() { # preset clip extra
  local out=/tmp/q13/r-$tag-$1-$(basename $2 .y4m)$4.json
  $bin bench --quality --preset $1 --video y4m:$2 --audio none --outputs flv --pipeline-only $3 > $out 2>/dev/null
  python3 -c "
import json;q=json.load(open('$out'))['quality'];print('%-8s %-28s %-14s mean %5.1f%% peak %6.2f%% psnr %.2f p5 %.2f frames %d' % ('$1','$(basename $2 .y4m)','$4',q['mean_over_target']*100,q['max_2s_over_target']*100,q['psnr_y'],q['psnr_y_p5'],q['frames']))"
}
C=/tmp/q13/clips
for c in game mandelbrot camera; do run 480p30 $C/$c-854x480p30.y4m; done
for c in text desktop slide; do run 720p30 $C/$c-1280x720p30.y4m "--tune content=screen" -screen; done
for c in text mandelbrot camera game desktop slide; do run 720p30 $C/$c-1280x720p30.y4m; done
for c in game camera; do run 1080p30 $C/$c-1920x1080p30.y4m; done

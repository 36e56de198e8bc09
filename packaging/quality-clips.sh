#!/usr/bin/env bash
# Makes the picture-quality clips: what streamers send, generated reproducibly by ffmpeg from
# fixed seeds and text made here (no downloads). Y4M, 8-bit 4:2:0.
#
#   bash packaging/quality-clips.sh DIR [CLIP...]   # default: every clip below
#   (environment: W=1280 H=720 FPS=30 SECS=10)
#
#   text        a terminal scrolling compiler and log output (monospace, light on dark)
#   desktop     an editor window and a video window moving over a desktop gradient
#   mandelbrot  ffmpeg's mandelbrot zoom: fine detail, constant motion
#   camera      a textured scene panning under moving light, a soft moving object, sensor noise
#   game        a detailed landscape scrolling fast, a spinning sprite, a static HUD
#   slide       a static slide that changes once, at half time
#
# Files are named CLIP-WxHpFPS.y4m; one that exists already is kept (delete it to remake it).
# Needs ffmpeg with drawtext (libfreetype) and the DejaVu fonts (fonts-dejavu-core).
set -euo pipefail
out=${1:?usage: quality-clips.sh DIR [CLIP...]}
shift
clips=("$@")
((${#clips[@]})) || clips=(text desktop mandelbrot camera game slide)
W=${W:-1280}; H=${H:-720}; FPS=${FPS:-30}; SECS=${SECS:-10}
N=$((SECS * FPS)); sfx="${W}x${H}p${FPS}"
mono=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
sans=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
for f in "$mono" "$sans"; do
  [[ -f $f ]] || { echo "quality-clips: $f missing (apt-get install fonts-dejavu-core)" >&2; exit 1; }
done
mkdir -p "$out"
ff() { ffmpeg -nostdin -y -v error "$@"; }

# Deterministic terminal output: compiler and log lines of varied length (an LCG, fixed seed).
text_file() {
  awk 'function r(n) { s = (s * 1103515245 + 12345) % 2147483648; return int(s / 65536) % n }
  BEGIN {
    s = 12345
    split("Compiling Checking Running Finished warning error note INFO DEBUG WARN", kw, " ")
    split("frame buffer encoder packet queue stats clock output window slice pts bitrate session fanout", id, " ")
    for (i = 1; i <= 1500; i++) {
      c = r(6); a = id[1 + r(14)]; b = id[1 + r(14)]; n = r(100000)
      if (c == 0) line = sprintf("   Compiling %s-%s v0.%d.%d (/work/src/%s/%s.rs)", a, b, r(20), r(30), a, b)
      else if (c == 1) line = sprintf("2026-11-21T14:%02d:%02d.%03dZ  INFO onair::%s::%s: %s %d encoded in %d.%d ms (queue %d/8) key=%s bytes=%d", r(60), r(60), r(1000), a, b, a, n, r(9), r(10), r(8), (r(2) ? "true" : "false"), r(90000))
      else if (c == 2) line = sprintf("warning: unused variable `%s_%d` --> src/%s/%s.rs:%d:%d", a, r(99), b, a, r(900), r(80))
      else if (c == 3) line = sprintf("    %s.%s_%d += 0x%04x; // %s the %s before the %s", a, b, r(99), r(65536), kw[1 + r(10)], b, a)
      else if (c == 4) line = sprintf("test %s::tests::%s_%s_%d ... ok", a, b, a, r(999))
      else line = sprintf("%08x  %02x %02x %02x %02x %02x %02x %02x %02x  %02x %02x %02x %02x %02x %02x %02x %02x", n * 16, r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256), r(256))
      print line
    }
  }' > "$1"
}

make_clip() {
  local name=$1 file="$out/$1-$sfx.y4m"
  [[ -s $file ]] && { echo "quality-clips: $file exists" >&2; return; }
  local t0=$SECONDS
  case $name in
  text)
    # 8 lines a second, a line at a time, as a terminal scrolls under a build log.
    text_file "$out/term.txt"
    local fs=$((H / 34)) lh=$((H / 34 * 5 / 4))
    local rows=$((H / lh))
    ff -f lavfi -i "color=c=0x101010:s=${W}x${H}:r=$FPS" -frames:v $N \
      -vf "drawtext=fontfile=$mono:textfile=$out/term.txt:fontsize=$fs:line_spacing=$((lh - fs)):fontcolor=0xdcdcdc:x=$((fs / 2)):y=$H-($rows+floor(t*8))*$lh+$lh/2,format=yuv420p" \
      "$file" ;;
  desktop)
    text_file "$out/term.txt"
    local ww=$((W * 11 / 20 / 2 * 2)) wh=$((H * 6 / 10 / 2 * 2)) fs=$((H / 48)) tb=$((H / 30))
    local vw=$((W * 4 / 10 / 2 * 2))
    local vh=$((vw * 9 / 16 / 2 * 2))
    ff -f lavfi -i "gradients=s=${W}x${H}:r=$FPS:c0=0x2c5364:c1=0x0f2027:n=2:speed=0.00001:seed=3" \
      -f lavfi -i "color=c=white:s=${ww}x${wh}:r=$FPS" \
      -f lavfi -i "testsrc2=s=${vw}x${vh}:r=$FPS" \
      -filter_complex "[1]drawbox=x=0:y=0:w=iw:h=$tb:c=0x3c3c3c:t=fill,drawtext=fontfile=$sans:text='notes.txt - Editor':fontsize=$((tb * 2 / 3)):fontcolor=white:x=$tb:y=$((tb / 6)),drawtext=fontfile=$mono:textfile=$out/term.txt:fontsize=$fs:fontcolor=0x202020:x=$((fs / 2)):y=$((tb + fs / 2))-floor(t*2)*$((fs * 5 / 4)):line_spacing=$((fs / 4))[a];
        [2]pad=w=iw:h=ih+$tb:x=0:y=$tb:color=0x3c3c3c[b];
        [0][b]overlay=x='W*0.52+if(between(t,4,7),(t-4)*W*0.03,if(gt(t,7),W*0.09,0))':y='H*0.45-if(between(t,4,7),(t-4)*H*0.05,if(gt(t,7),H*0.15,0))'[bg];
        [bg][a]overlay=x='W*0.04+W*0.12*(1-cos(t*0.9))':y='H*0.06+H*0.1*sin(t*0.7)',format=yuv420p" \
      -frames:v $N "$file" ;;
  mandelbrot)
    ff -f lavfi -i "mandelbrot=s=${W}x${H}:r=$FPS" -vf format=yuv420p -frames:v $N "$file" ;;
  camera)
    local ow=$((W * 4 / 10 / 2 * 2)) oh=$((H * 4 / 10 / 2 * 2))
    ff -f lavfi -i "color=c=gray:s=$((W * 2))x${H}:r=$FPS" \
      -f lavfi -i "gradients=s=${W}x${H}:r=$FPS:n=4:speed=0.01:seed=7" \
      -f lavfi -i "testsrc2=s=${ow}x${oh}:r=$FPS" \
      -filter_complex "[0]format=gray,trim=end_frame=1,noise=c0s=100:c0f=0:c0_seed=5,gblur=sigma=1.2,eq=contrast=1.4,loop=loop=-1:size=1,setpts=N/($FPS*TB),crop=w=$W:h=$H:x='n*2':y=0,format=gbrp[tex];[1]format=gbrp[lit];[tex][lit]blend=all_mode=overlay[scene];[2]boxblur=2[o];[scene][o]overlay=x='W*0.1+W*0.3*(1-cos(t*0.5))':y='H*0.3+H*0.05*sin(t*1.3)',noise=alls=6:allf=t:all_seed=42,format=yuv420p" \
      -frames:v $N "$file" ;;
  game)
    ff -f lavfi -i "mandelbrot=s=$((W * 2))x${H}:r=$FPS:start_scale=0.6:end_scale=0.6:start_x=-0.75:start_y=0.1:maxiter=256:outer=normalized_iteration_count" \
      -f lavfi -i "testsrc2=s=$((H / 4))x$((H / 4)):r=$FPS" \
      -filter_complex "[0]trim=end_frame=1,loop=loop=-1:size=1,setpts=N/($FPS*TB),crop=w=$W:h=$H:x='mod(n*$((W / 60)),$W)':y=0[bg];[1]rotate=a='t*3':c=black@0[s];[bg][s]overlay=x='W/2+W/4*sin(t*2)':y='H/2+H/4*cos(t*2.6)',drawbox=x=0:y=0:w=iw:h=$((H / 12)):c=black@0.6:t=fill,drawtext=fontfile=$sans:text='SCORE 004200   LIVES 3':fontsize=$((H / 20)):fontcolor=yellow:x=$((H / 40)):y=$((H / 80)),format=yuv420p" \
      -frames:v $N "$file" ;;
  slide)
    printf -- '- Revenue up by a tenth\n- Three new regions opened\n- Support tickets down by a third\n- Hiring 14 engineers\n' > "$out/slide1.txt"
    printf -- '- Ship the new encoder\n- Measure every clip\n- Hold the bitrate\n- Review in March\n' > "$out/slide2.txt"
    local half=$((SECS / 2))
    ff -f lavfi -i "color=c=white:s=${W}x${H}:r=$FPS" -vf "drawbox=x=0:y=0:w=iw:h=$((H / 6)):c=0x1f4e79:t=fill,
drawtext=fontfile=$sans:text='Quarterly results':fontsize=$((H / 12)):fontcolor=white:x=$((W / 20)):y=$((H / 24)):enable='lt(t,$half)',
drawtext=fontfile=$sans:text='Next steps':fontsize=$((H / 12)):fontcolor=white:x=$((W / 20)):y=$((H / 24)):enable='gte(t,$half)',
drawtext=fontfile=$sans:textfile=$out/slide1.txt:fontsize=$((H / 24)):line_spacing=$((H / 40)):fontcolor=0x202020:x=$((W / 20)):y=$((H / 4)):enable='lt(t,$half)',
drawtext=fontfile=$sans:textfile=$out/slide2.txt:fontsize=$((H / 24)):line_spacing=$((H / 40)):fontcolor=0x202020:x=$((W / 20)):y=$((H / 4)):enable='gte(t,$half)',
drawbox=x=$((W * 6 / 10)):y=$((H * 7 / 10)):w=$((W / 20)):h=$((H / 6)):c=0x2e75b6:t=fill,drawbox=x=$((W * 7 / 10)):y=$((H * 6 / 10)):w=$((W / 20)):h=$((H * 16 / 60)):c=0x2e75b6:t=fill,drawbox=x=$((W * 8 / 10)):y=$((H * 5 / 10)):w=$((W / 20)):h=$((H * 22 / 60)):c=0xc55a11:t=fill,format=yuv420p" \
      -frames:v $N "$file" ;;
  *) echo "quality-clips: no clip named $name (text desktop mandelbrot camera game slide)" >&2; exit 1 ;;
  esac
  echo "quality-clips: $file ($((SECONDS - t0)) s)" >&2
}

for c in "${clips[@]}"; do make_clip "$c"; done

#!/usr/bin/env bash
# Renders onair's icon from its SVG: assets/icons/onair-N.png at the hicolor theme's sizes
# (16 to 512 px) with rsvg-convert (librsvg2-bin), the Windows icon resource
# packaging/windows/onair.ico (16 to 256 px) with ImageMagick and the macOS one
# packaging/macos/onair.icns with png2icns (icnsutils). The same tools give the same bytes; the
# files are committed, since the window's icon is compiled in.
#
#   bash packaging/icons.sh           # render them again after editing assets/icons/onair.svg
#   bash packaging/icons.sh --check   # fail if a committed PNG is not what the SVG renders
set -euo pipefail
cd "$(dirname "$0")/.."
svg=assets/icons/onair.svg
sizes=(16 32 48 64 128 256 512)
command -v rsvg-convert >/dev/null || { echo "icons: rsvg-convert is missing: apt-get install librsvg2-bin" >&2; exit 1; }

if [[ "${1:-}" == "--check" ]]; then
  command -v compare >/dev/null || { echo "icons: ImageMagick's compare is missing: apt-get install imagemagick" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  bad=0
  for s in "${sizes[@]}"; do
    rsvg-convert -w "$s" -h "$s" "$svg" -o "$tmp/$s.png"
    # Another librsvg may smooth edges a little differently: allow 1 % RMS difference.
    rmse=$(compare -metric RMSE "assets/icons/onair-$s.png" "$tmp/$s.png" null: 2>&1 | sed -E 's/.*\(([0-9.e+-]+)\).*/\1/') || true
    if ! awk -v e="$rmse" 'BEGIN { exit !(e + 0 < 0.01) }'; then
      echo "icons: assets/icons/onair-$s.png differs from $svg rendered at $s px (RMSE $rmse): run bash packaging/icons.sh" >&2
      bad=1
    fi
  done
  exit "$bad"
fi

for s in "${sizes[@]}"; do
  rsvg-convert -w "$s" -h "$s" "$svg" -o "assets/icons/onair-$s.png"
done
command -v convert >/dev/null || { echo "icons: ImageMagick's convert is missing: apt-get install imagemagick" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rsvg-convert -w 24 -h 24 "$svg" -o "$tmp/24.png"
convert assets/icons/onair-16.png "$tmp/24.png" assets/icons/onair-{32,48,64,256}.png packaging/windows/onair.ico
command -v png2icns >/dev/null || { echo "icons: png2icns is missing: apt-get install icnsutils" >&2; exit 1; }
png2icns packaging/macos/onair.icns assets/icons/onair-{16,32,48,128,256,512}.png >/dev/null
echo "icons: rendered ${sizes[*]} px, packaging/windows/onair.ico and packaging/macos/onair.icns from $svg" >&2

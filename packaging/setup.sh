#!/usr/bin/env bash
# Installs what onair needs on Debian 12 / Ubuntu 24.04: the build tools (nasm is required:
# without it OpenH264 silently loses its assembly and encodes ~3x slower), the Rust toolchain
# if there is none, and with --test the peers the tests judge against (ffmpeg/ffprobe, nginx
# with the RTMP module, Chromium driven by playwright-core from npm, a private X server and
# sound server for the screen and microphone; GStreamer for packaging/bench-compare.sh).
# The capture crates need headers to build: xcap (libclang for bindgen, Wayland, PipeWire,
# EGL, GBM, XCB), nokhwa (libclang, V4L2 headers from linux-libc-dev), cpal (ALSA). The
# Opus encoder (crate opus) builds its own static libopus with cmake.
#
#   bash packaging/setup.sh           # to build and run
#   bash packaging/setup.sh --test    # also what the tests need
set -euo pipefail

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

build_pkgs=(build-essential pkg-config nasm cmake ca-certificates curl
  libclang-dev libwayland-dev libpipewire-0.3-dev libegl-dev libgbm-dev libxcb1-dev
  libasound2-dev
  # the window: loaded at run time by winit/glutin (X11 or Wayland, OpenGL through Mesa)
  libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0 libwayland-client0 libgl1 libegl1 libgl1-mesa-dri)
test_pkgs=(ffmpeg nginx libnginx-mod-rtmp libnginx-mod-stream openssl procps chromium
  # screen and microphone tests; the GUI tests (kittest renders with wgpu on lavapipe; the real
  # window runs under Xvfb)
  xvfb xterm x11-utils x11-xserver-utils openbox pulseaudio pulseaudio-utils libasound2-plugins
  mesa-vulkan-drivers xdotool imagemagick
  # the mixer's tests: speech and noise to suppress (tests/it/mixer.rs)
  espeak-ng sox
  # the stream keys in a real Secret Service on a private session bus (tests/keyring.rs)
  dbus-daemon dbus-bin gnome-keyring libsecret-tools
  # the log view's local times in a named zone (tests/desktop_handlers.rs)
  tzdata
  # the WHIP tests' WebRTC peer (aiortc, from PyPI into tests/whip/.venv); bench-compare, soak
  python3 python3-venv gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  # the Debian package (packaging/deb.sh) and its test (tests/package.rs): dpkg-deb and
  # dpkg-shlibdeps (dpkg-dev, with build-essential), Debian's checkers, the shells whose
  # completions it ships, the icon renderer
  lintian desktop-file-utils appstream man-db zsh fish librsvg2-bin
  # the quality clips (drawtext's fonts; tests/it/quality.rs) and packaging/quality.sh's CPU time
  fonts-dejavu-core time)

pkgs=("${build_pkgs[@]}")
((want_test)) && pkgs+=("${test_pkgs[@]}")
# Node.js drives Chromium in the tests; Debian's, unless the machine already has one.
((want_test)) && ! command -v npm >/dev/null && pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v nasm >/dev/null || { echo "setup: nasm is still missing; install it and run again" >&2; exit 1; }

# Rust: onair needs 1.95 or newer (edition 2024, eframe 0.37).
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: installing the Rust toolchain with rustup" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
fi
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if ((rust_minor < 95)); then
  if command -v rustup >/dev/null; then rustup update stable; else
    echo "setup: rustc $(rustc --version) is older than 1.95; install a newer one with rustup" >&2; exit 1
  fi
fi
if ((want_test)) && command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
fi
if ((want_test)); then
  # playwright-core, pinned by tests/browser/package-lock.json (no browser download: the tests
  # use Debian's /usr/bin/chromium).
  browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  if [[ ! -d "$browser_dir/node_modules/playwright-core" ]]; then
    echo "setup: installing playwright-core in tests/browser" >&2
    npm ci --prefix "$browser_dir" --no-audit --no-fund --loglevel=error >&2
  fi
fi
if ((want_test)); then
  # aiortc and aiohttp, pinned by tests/whip/requirements.txt (wheels: nothing to compile).
  whip_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/whip"
  # The venv is redone when the pins change (a copy of them is kept in it).
  if ! cmp -s "$whip_dir/requirements.txt" "$whip_dir/.venv/requirements.installed" ||
    ! "$whip_dir/.venv/bin/python" -c "import aiortc, aiohttp, numpy" 2>/dev/null; then
    echo "setup: installing aiortc in tests/whip/.venv" >&2
    rm -rf "$whip_dir/.venv"
    python3 -m venv "$whip_dir/.venv"
    "$whip_dir/.venv/bin/pip" install -q --no-deps --only-binary :all: \
      -r "$whip_dir/requirements.txt" >&2
    cp "$whip_dir/requirements.txt" "$whip_dir/.venv/requirements.installed"
  fi
fi
echo "setup: ready ($(rustc --version), $(nasm -v))" >&2

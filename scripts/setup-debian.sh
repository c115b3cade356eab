#!/usr/bin/env bash
# Installs what building and testing Tutti needs on Debian 12 / Ubuntu, and nothing that is
# already there. Idempotent and quiet when there is nothing to do; uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: gcc/make for bundled SQLite, pkg-config for -sys crates, cmake for libopus (the opus
# crate builds it), ALSA headers for cpal, libvpx for VP8 video, libclang for nokhwa's bindgen,
# JACK's pkg-config file for jack-sys (libjack itself is loaded at run time, when JACK is chosen).
APT_PACKAGES=(build-essential pkg-config cmake libasound2-dev libvpx-dev libclang-dev
  libjack-jackd2-dev
  # Tests: a userspace PulseAudio gives cpal real devices on a machine without a sound card.
  pulseaudio pulseaudio-utils libasound2-plugins
  # The desktop app: the system web view Tauri draws in, and its icon loader.
  libwebkit2gtk-4.1-dev librsvg2-dev
  # Tests: JACK as musicians run it (crates/media/tests/jack.rs: jackd's dummy backend; libjack
  # is loaded at run time by the JACK host).
  jackd2
  # Tests: network namespaces and a NAT router for the relay tests.
  iproute2 nftables
  # Tests: the real app under a virtual display, driven through WebKit's WebDriver; a Korean
  # font, so that its screenshots show the Korean UI rather than empty boxes.
  xvfb xauth webkit2gtk-driver fonts-nanum
  # Tests: an independent WebRTC stack to hold Tutti's links against (tests/tests/chromium.rs;
  # `bench devices` also measures its call beside Tutti's).
  chromium)
# Benchmarks only (`setup-debian.sh --bench`): a CPU hog, and PipeWire (with its PulseAudio
# interface and session manager, under dbus-run-session) for `bench devices --sound-server pipewire`.
if [ "${1:-}" = "--bench" ]; then
  APT_PACKAGES+=(stress-ng pipewire pipewire-pulse wireplumber dbus)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # A first install of a large package set has been seen to fail half-way; a second run fixes it.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }
for component in rustfmt clippy; do
  cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 \
    || { echo "setup: missing Rust component $component (rustup component add $component)" >&2; exit 1; }
done

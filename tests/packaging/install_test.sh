#!/usr/bin/env bash
# Packaging end to end: the install layout under a throw-away prefix, the
# Debian package built from the same build tree, and the systemd unit.
#
#   install_test.sh BUILD_DIR SOURCE_DIR [CMAKE] [CPACK]
#
# The issue asks CI to `dpkg -i` the package; CI runs as a normal user
# without root, so the package is unpacked with `dpkg-deb -x` into a scratch
# root instead: the same files land at the same relative paths, minus the
# maintainer scripts (the package has none).
set -euo pipefail

BUILD=$(cd "$1" && pwd)
SOURCE=$(cd "$2" && pwd)
CMAKE=${3:-cmake}
CPACK=${4:-cpack}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlxs-install-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ -x "$BUILD/mlx-serving" ] || fail "$BUILD/mlx-serving is not built"

# ------------------------------------------------------------ cmake --install
step "cmake --install $BUILD --prefix $TMP/prefix"
"$CMAKE" --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log" >&2; fail "cmake --install"; }
P=$TMP/prefix
for f in bin/mlx-serving \
         share/mlx-serving/config/runtime.yaml \
         share/mlx-serving/schemas/config.schema.json \
         share/mlx-serving/systemd/mlx-serving.service \
         share/mlx-serving/grafana/mlx-serving.json \
         share/mlx-serving/prometheus/prometheus.yml \
         share/mlx-serving/prometheus/alerts.yml \
         share/doc/mlx-serving/README.md \
         share/doc/mlx-serving/docs/metrics.md; do
  [ -f "$P/$f" ] || fail "missing $f in the install tree"
done
[ -x "$P/bin/mlx-serving" ] || fail "bin/mlx-serving is not executable"
# Every schema of the source tree, sub-folders included, is installed.
(cd "$SOURCE/schemas" && find . -name '*.json') | while read -r s; do
  [ -f "$P/share/mlx-serving/schemas/$s" ] || fail "missing schema $s"
done
# Relocatable: everything landed under the prefix (an absolute DESTINATION
# would have escaped it), and nothing but bin/ and share/ was written.
for entry in "$P"/* "$P"/.[!.]*; do
  [ -e "$entry" ] || continue
  case "$(basename "$entry")" in bin | share) ;; *) fail "unexpected $entry under the prefix" ;; esac
done

step "installed binary: --version, config validate"
version=$("$P/bin/mlx-serving" --version) || fail "--version"
echo "$version"
case "$version" in "mlx-serving "*) ;; *) fail "unexpected --version output: $version" ;; esac
"$P/bin/mlx-serving" config validate "$P/share/mlx-serving/config/runtime.yaml" --no-env ||
  fail "the installed runtime.yaml does not validate"

# ------------------------------------------------------------ cpack -G DEB
if command -v "$CPACK" >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
  step "cpack -G DEB"
  "$CPACK" -G DEB -B "$TMP/pkg" --config "$BUILD/CPackConfig.cmake" >"$TMP/cpack.log" 2>&1 ||
    { cat "$TMP/cpack.log" >&2; fail "cpack"; }
  debs=("$TMP"/pkg/mlx-serving_*.deb)
  [ -f "${debs[0]}" ] || { ls -la "$TMP/pkg" >&2; fail "no mlx-serving_*.deb"; }
  deb=${debs[0]}
  echo "built $(basename "$deb")"

  info=$(dpkg-deb --info "$deb")
  echo "$info"
  grep -q '^ Package: mlx-serving$' <<<"$info" || fail "Package field"
  grep -q '^ Version: ' <<<"$info" || fail "Version field"
  grep -q '^ Maintainer: ' <<<"$info" || fail "Maintainer field"
  if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    grep -q '^ Depends: .*libc6' <<<"$info" || fail "Depends computed by dpkg-shlibdeps"
  fi

  contents=$(dpkg-deb --contents "$deb")
  for f in ./usr/bin/mlx-serving ./usr/share/mlx-serving/config/runtime.yaml \
           ./usr/share/mlx-serving/systemd/mlx-serving.service \
           ./usr/share/doc/mlx-serving/README.md; do
    grep -q " $f\$" <<<"$contents" || fail "$f not in the package"
  done

  step "dpkg-deb -x (stands in for dpkg -i without root)"
  dpkg-deb -x "$deb" "$TMP/root"
  "$TMP/root/usr/bin/mlx-serving" --version || fail "the packaged binary does not run"
  "$TMP/root/usr/bin/mlx-serving" config validate \
    "$TMP/root/usr/share/mlx-serving/config/runtime.yaml" --no-env ||
    fail "the packaged runtime.yaml does not validate"
else
  echo "SKIP: cpack or dpkg-deb not found, no .deb checks"
fi

# ------------------------------------------------------------ systemd unit
if command -v systemd-analyze >/dev/null 2>&1; then
  step "systemd-analyze verify"
  # The unit names /usr/bin/mlx-serving, which is not installed here: verify a
  # copy that points at the binary under the test prefix (same name, so the
  # unit's own name is what is checked).
  mkdir -p "$TMP/unit"
  sed "s#/usr/bin/mlx-serving#$P/bin/mlx-serving#g" \
    "$SOURCE/deploy/systemd/mlx-serving.service" >"$TMP/unit/mlx-serving.service"
  systemd-analyze verify "$TMP/unit/mlx-serving.service" || fail "systemd-analyze verify"
else
  echo "SKIP: systemd-analyze not found, unit not verified"
fi

echo "PASS"

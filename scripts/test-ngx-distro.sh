#!/usr/bin/env bash
# The nginx module in the distribution's nginx: builds it against Debian's `nginx-dev` source
# (configured with the flags Debian built its nginx with, from that package's conf_flags), then
# runs the module's tests in Debian's own /usr/sbin/nginx. scripts/test.sh runs it after the
# tests against the vendored nginx, whose proxy binary (target/debug/tollgate) the tests pair
# with the module.
#
#   bash scripts/test-ngx-distro.sh            # build and test
#   bash scripts/test-ngx-distro.sh --build    # build only: target/distro/debug/libtollgate_ngx.so
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
ensure_packages "${DISTRO_NGX_PACKAGES[@]}"

out=$PWD/target/distro
src=$out/nginx-src
flags=/usr/share/nginx/src/conf_flags
# Configure a copy once per nginx-dev version: configure writes objs/ (ngx_auto_config.h and the
# Makefile nginx-sys reads its include paths and defines from).
if [ ! -f "$src/objs/ngx_auto_config.h" ] || [ "$flags" -nt "$src/objs/ngx_auto_config.h" ]; then
  rm -rf "$src"
  mkdir -p "$out"
  cp -r /usr/share/nginx/src "$src"
  (cd "$src" && . ./conf_flags && ./configure "${NGX_CONF_FLAGS[@]}" \
    --with-cc-opt=-fPIC --with-ld-opt=-fPIC >"$out/configure.log" 2>&1) \
    || { tail -20 "$out/configure.log" >&2; exit 1; }
fi
export NGINX_SOURCE_DIR=$src CARGO_TARGET_DIR=$out
# NGINX_PROFILE: extra cargo flags (scripts/package.sh passes --release).
cargo build --locked ${NGINX_PROFILE:-} -p tollgate-ngx --no-default-features
[ "${1:-}" = --build ] && exit 0
echo "module built against $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'): $out/debug/libtollgate_ngx.so" >&2
# The tests that pair the module with the proxy start the one the main build made.
[ -x target/debug/tollgate ] || cargo build --locked -p tollgate-proxy --target-dir "$PWD/target"
ln -sf "$PWD/target/debug/tollgate" "$out/debug/tollgate"
TOLLGATE_NGINX=/usr/sbin/nginx cargo test --locked -p tollgate-ngx --no-default-features

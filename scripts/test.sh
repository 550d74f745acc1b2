#!/usr/bin/env bash
# Runs every test tollgate has: unit tests, rule-file tests, the scenario table against the core
# and against a real proxy process, the proxy lifecycle tests (reload, restart, bans, spray), and
# the challenge tests (headless Chromium, curl, `tollgate solve`, forged and replayed tokens), and
# the nginx module in a real nginx built from the vendored source.
# On a bare Debian machine (as root) it first installs the system packages the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null || need+=(cmake)          # pingora's zlib-ng is built with cmake
command -v cc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v curl >/dev/null || need+=(curl)            # the challenge test runs real curl
command -v node >/dev/null || need+=(nodejs npm)      # drives Chromium through Playwright
[ -x /usr/bin/chromium ] || need+=(chromium)          # the browser that pays the challenge
command -v wget >/dev/null || need+=(wget)            # the attacker guide's harvesting loop
/usr/bin/python3 -c 'import requests' 2>/dev/null || need+=(python3-requests)  # a scripted client
# The vendored nginx build: bindgen needs libclang; nginx links PCRE2, zlib and OpenSSL.
for pkg in libclang-dev libpcre2-dev zlib1g-dev libssl-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (install them, e.g. sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
fi
# playwright-core only (no browser download): it drives Debian's /usr/bin/chromium.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo fmt --all -- --check
# The layout's limits: no import circles between files, no source file over 450 lines, and at
# most 8 files at the top of the core (everything else lives in the folder of its request step).
for src in core/src pingora-proxy/src ngx-module/src tests/src; do
  python3 scripts/import-cycles.py "$src"
done
long=$(find core pingora-proxy ngx-module tests -name '*.rs' -not -path '*/node_modules/*' \
  -exec awk 'END { if (NR > 450) print FILENAME ": " NR " lines" }' {} \;)
[ -z "$long" ] || { echo "source files over 450 lines:" >&2; echo "$long" >&2; exit 1; }
top=$(find core/src -maxdepth 1 -name '*.rs' | wc -l)
[ "$top" -le 8 ] || { echo "core/src has $top files at the top (at most 8)" >&2; exit 1; }
cargo clippy --workspace --all-targets --locked -- -D warnings
# The module is a cdylib and the proxy a binary that the nginx tests start: cargo test does not
# rebuild either for another package's tests, so build them first.
cargo build --locked -p tollgate-ngx -p tollgate-proxy
cargo test --workspace --locked

#!/usr/bin/env bash
# Runs every test tollgate has: unit tests, rule-file tests, the scenario table against the core
# and against a real proxy process, the proxy lifecycle tests (reload, restart, bans, spray), and
# the challenge tests (headless Chromium, curl, `tollgate solve`, forged and replayed tokens), and
# the nginx module in a real nginx built from the vendored source, then in Debian's own nginx.
# On a bare Debian machine it first installs the system packages the tests need (as root, or
# through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/packages.sh
ensure_packages "${TEST_PACKAGES[@]}"
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
# The module again, built against Debian's nginx 1.22 source and run in Debian's nginx.
bash scripts/test-ngx-distro.sh
# The Debian packages of the debug build: installed, checked and purged.
bash scripts/package.sh --debug
bash scripts/test-package.sh

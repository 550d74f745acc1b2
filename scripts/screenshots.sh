#!/usr/bin/env bash
# Refreshes docs/challenge-page/challenge-<lang>.png: the challenge page in each of its languages,
# in Debian's headless Chromium, with Debian's CJK fonts (fonts-noto-cjk) so Chinese and Japanese
# render as text, not boxes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
ensure_packages "${TEST_PACKAGES[@]}" fonts-noto-cjk
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p docs/challenge-page
TOLLGATE_SHOTS="$PWD/docs/challenge-page" \
  cargo test --locked -p tollgate-proxy --test page_languages -- --nocapture
ls -l docs/challenge-page

#!/usr/bin/env bash
# Runs tollgate with the default rules and the built-in demo backend, as the README describes:
# http://127.0.0.1:8080/ (the demo site behind the toll), https://127.0.0.1:8443/ (TLS, h2, a
# generated development certificate), metrics on http://127.0.0.1:9180/metrics.
# On a bare Debian machine it first installs what the build needs (as root, or through sudo).
# Extra arguments go to `tollgate run` (see `tollgate run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
ensure_packages "${RUN_PACKAGES[@]}"
exec cargo run --release --locked -p tollgate-proxy -- run --rules rules/default.toml "$@"

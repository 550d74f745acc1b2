#!/usr/bin/env bash
# Runs the whole test command N times in a row (default 20) to find flaky tests; prints one line
# per run and a tally, keeps the log of every failed run in target/repeat-tests/, and exits
# non-zero if any run failed.   Usage: bash scripts/repeat-tests.sh [N]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
logs=target/repeat-tests
mkdir -p "$logs"
passed=0
failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if bash scripts/test.sh >"$logs/run-$i.log" 2>&1; then
    passed=$((passed + 1))
    rm -f "$logs/run-$i.log"
    echo "run $i/$runs: ok ($(( $(date +%s) - start )) s)"
  else
    failed=$((failed + 1))
    first=$(grep -m1 -E -- '--- FAIL|FAILED|panicked' "$logs/run-$i.log" || true)
    echo "run $i/$runs: FAILED ($(( $(date +%s) - start )) s): $first (log: $logs/run-$i.log)"
  fi
done
echo "tally: $passed passed, $failed failed, of $runs runs"
[ "$failed" -eq 0 ]

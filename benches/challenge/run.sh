#!/usr/bin/env bash
# What the toll costs a client, browser and native, at the shipped default difficulty.
#
#   bash benches/challenge/run.sh          # RUNS=20 visits per puzzle kind
#
# Prints, all measured in this run on this machine:
#   - native single-core hash rate (the solver `tollgate solve` uses; sha2 with the CPU's SHA
#     extensions) and the same without them (sha2's portable code: what JavaScript competes with);
#   - the single-core hash rate in one Web Worker of headless Chromium and of Debian's Firefox
#     ESR, for each search the worker has (WebAssembly SIMD, scalar WebAssembly, JavaScript),
#     and each one's ratio to native;
#   - solve time p50/p95 per puzzle kind: Chromium (as the page measured it, all cores) and
#     `tollgate solve` (all cores), plus Chromium's time from navigation to the backend's page.
# Needs: a release build (made here), Debian's chromium and firefox-esr, `npm ci` in tests/browser.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-20}
cargo build --release -q -p tollgate-proxy
BIN=$PWD/target/release/tollgate
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=18180
"$BIN" run --rules benches/challenge/rules.toml --listen 127.0.0.1:$PORT --admin 127.0.0.1:18190 \
  --demo-backend 127.0.0.1:18181 --state-dir "$WORK" 2>"$WORK/log" & PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
# A port already taken (another tollgate) would have this run measure that one instead.
kill -0 "$PID" 2>/dev/null || { echo "tollgate did not start:" >&2; cat "$WORK/log" >&2; exit 1; }

pct() { # percentile p of numbers on stdin
  sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(p/100*NR+0.999); if (i<1) i=1; print a[i]}'
}

native=$(cargo bench -q -p tollgate-core --bench toll -- --test 2>/dev/null | awk '/native hash rate/ {print $(NF-1)}')
soft=$(cargo bench -q -p tollgate-core --bench toll --features soft-sha -- --test 2>/dev/null | awk '/native hash rate/ {print $(NF-1)}')
median() { python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["engine"] == sys.argv[1], d; print("%.2f" % d["median_mhs"])' "$1"; }
echo "hash rate, one core (MH/s): native $native, native without SHA extensions $soft"
for solver in wasm-simd wasm js; do
  chromium=$(node tests/browser/drive.mjs hashrate "http://127.0.0.1:$PORT" 4000000 $solver | median $solver)
  firefox=$(python3 tests/browser/firefox.py --hashrate "http://127.0.0.1:$PORT" 4000000 $solver | median $solver)
  awk -v s=$solver -v c="$chromium" -v f="$firefox" -v n="$native" 'BEGIN {
    printf "%-9s Chromium %6.2f MH/s (%.2fx native)   Firefox %6.2f MH/s (%.2fx native)\n", s, c, c/n, f, f/n}'
done
echo "(target for wasm-simd >= 0.80x native, goal >= 1.00x)"
echo
for kind in hashcash range; do
  node tests/browser/drive.mjs solves "http://127.0.0.1:$PORT/$kind/" "You passed tollgate" "$RUNS" > "$WORK/$kind.json"
  node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1])).runs; for (const x of r) console.log(x.solve_ms, x.elapsed_ms)' "$WORK/$kind.json" > "$WORK/$kind.txt"
  for _ in $(seq "$RUNS"); do
    "$BIN" solve "http://127.0.0.1:$PORT/$kind/" 2>&1 >/dev/null | awk '/solved/ {print $5 * 1000}'
  done > "$WORK/$kind-native.txt"
  printf '%-8s Chromium solve p50 %5s ms p95 %5s ms | page to backend p50 %5s ms p95 %5s ms | tollgate solve p50 %5s ms p95 %5s ms  (%s runs each)\n' "$kind" \
    "$(awk '{print $1}' "$WORK/$kind.txt" | pct 50)" "$(awk '{print $1}' "$WORK/$kind.txt" | pct 95)" \
    "$(awk '{print $2}' "$WORK/$kind.txt" | pct 50)" "$(awk '{print $2}' "$WORK/$kind.txt" | pct 95)" \
    "$(pct 50 < "$WORK/$kind-native.txt")" "$(pct 95 < "$WORK/$kind-native.txt")" "$RUNS"
done

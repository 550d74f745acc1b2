#!/usr/bin/env bash
# Where tollgate's time goes under wrk: a sampled CPU profile (perf, cpu-clock: this VM has no
# hardware counters) of the one-worker process per target: the share of each owner (kernel,
# allocator, tollgate, TLS, pingora, tokio, ...) and the top symbols.
#
#   bash benches/wrk/profile.sh           # 10 s per target; prints shares by owner and the top 12 symbols
#   DURATION=20s TOP=40 bash benches/wrk/profile.sh
#
# Targets: tls-off and tls-cleared (the TLS ratio's two sides, benches/wrk/rules-tls-*.toml),
# and allowed (benches/wrk/rules-allowed.toml over plain HTTP, the path compared with nginx).
# Needs: wrk, nginx (the upstream), perf (linux-perf); a release build (made here).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/common.sh
DURATION=${DURATION:-10s}
TOP=${TOP:-12}
for c in wrk nginx perf; do
  command -v $c >/dev/null || { echo "needs $c (apt-get install -y wrk nginx-light linux-perf)" >&2; exit 1; }
done
bench_setup
UP=18481; NGX=18482
start_upstream $UP $NGX
wait_port $UP

start_tollgate() { # name port admin-port rules-file
  mkdir -p "$WORK/$1"
  taskset -c 0 "$BIN" run --rules "$4" --listen 127.0.0.1:$2 --admin 127.0.0.1:$3 \
    --upstream 127.0.0.1:$UP --state-dir "$WORK/$1" --threads 1 --log-refusals-per-sec 1 2>>"$WORK/$1/log" &
  PIDS+=($!)
  echo $! > "$WORK/$1/pid"
  wait_port "$2"
}
start_tollgate allowed 18484 18494 benches/wrk/rules-allowed.toml
start_tollgate tls-off 18488 18498 benches/wrk/rules-tls-off.toml
start_tollgate tls-cleared 18489 18499 benches/wrk/rules-tls-cleared.toml
wait_port 18443; wait_port 18444
TLS_COOKIE=$("$BIN" token --rules benches/wrk/rules-tls-cleared.toml --state-dir "$WORK/tls-cleared" \
  --ip 127.0.0.1 --user-agent wrk-bench --requests 4000000000 --https)
[ "$(curl -sk -o /dev/null -w '%{http_code}' -A wrk-bench -b "$TLS_COOKIE" https://127.0.0.1:18444/)" = 200 ] \
  || { echo "tls-cleared: minted cookie refused" >&2; exit 1; }

profile() { # name url [cookie]
  local pid; pid=$(cat "$WORK/$1/pid")
  perf record -q -e cpu-clock -F 1999 -p "$pid" -o "$WORK/$1.data" -- sleep "${DURATION%s}" 2>/dev/null &
  local rec=$!
  local hdr=(); [ -n "${3:-}" ] && hdr=(-H "Cookie: $3" -H "User-Agent: wrk-bench")
  local rps; rps=$(taskset -c 1 wrk -t1 -c50 -d"$DURATION" "${hdr[@]}" "$2" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
  wait $rec || true
  echo "== $1: $rps req/s while sampled"
  perf report -q -i "$WORK/$1.data" --no-children --sort symbol 2>/dev/null | sed 's/^ *//' > "$WORK/$1.txt"
  # By owner: the kernel, the allocator, and each crate family (a symbol's path names it).
  awk '{ p = $1 + 0; s = $0
    if (s ~ /\[k\]/) g = "kernel"
    else if (s ~ /malloc|_int_free|cfree|unlink_chunk|memmove|memcpy|memset/) g = "libc malloc+mem"
    else if (s ~ /tollgate/) g = "tollgate (core and proxy)"
    else if (s ~ /rustls|aws_lc|ring::|aes|gcm|chacha|sha256|x25519/) g = "TLS (rustls, aws-lc)"
    else if (s ~ /pingora/) g = "pingora"
    else if (s ~ /tokio|mio::/) g = "tokio"
    else if (s ~ /http::|httparse|h2::|bytes::/) g = "http, httparse, bytes"
    else g = "other"
    t[g] += p } END { for (g in t) printf "%6.2f%%  %s\n", t[g], g }' "$WORK/$1.txt" | sort -rn
  echo "-- top symbols:"
  head -n "$TOP" "$WORK/$1.txt"
  echo
}
profile allowed http://127.0.0.1:18484/robots.txt
profile tls-off https://127.0.0.1:18443/robots.txt
profile tls-cleared https://127.0.0.1:18444/robots.txt "$TLS_COOKIE"

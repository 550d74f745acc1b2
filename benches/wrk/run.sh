#!/usr/bin/env bash
# Throughput of tollgate against baselines measured in the same run, with wrk on loopback.
#
#   bash benches/wrk/run.sh            # 3 rounds of 5 s per target; prints medians and ratios
#   ROUNDS=5 DURATION=10s bash benches/wrk/run.sh
#
# Servers get CPU 0 and one worker thread; wrk gets CPU 1 (-t1 -c50). Targets:
#   upstream      nginx `return 200` (the upstream itself)
#   nginx-proxy   nginx proxy_pass to the upstream with keepalive
#   tg-off        tollgate, mode = "off" (proxying, no decision)
#   tg-allowed    tollgate, full decision pipeline on an allowed path
#   tg-banned-close / tg-banned-keepalive   tollgate answering a banned client
# Needs: wrk, nginx (Debian's nginx-light is enough), a release build (made here).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx (apt-get install -y wrk nginx-light)" >&2; exit 1; }
cargo build --release -q -p tollgate-proxy
BIN=$PWD/target/release/tollgate
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

UP=18081; NGX=18082; TG=18083; ADMIN=18084
mkdir -p "$WORK/nginx/tmp"
sed -e "s|PREFIX|$WORK/nginx|g" -e "s|UPSTREAM_PORT|$UP|g" -e "s|NGINX_PROXY_PORT|$NGX|g" benches/wrk/upstream-nginx.conf > "$WORK/nginx/nginx.conf"
taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
wait_port $UP; wait_port $NGX

start_tollgate() { # rules-file
  rm -rf "$WORK/state"
  taskset -c 0 "$BIN" run --rules "$1" --listen 127.0.0.1:$TG --admin 127.0.0.1:$ADMIN \
    --upstream 127.0.0.1:$UP --state-dir "$WORK/state" --threads 1 --log-refusals-per-sec 1 2>>"$WORK/tollgate.log" &
  TG_PID=$!
  wait_port $TG
}
stop_tollgate() { kill -INT "$TG_PID" 2>/dev/null || true; wait "$TG_PID" 2>/dev/null || true; }

# One wrk run: prints "req/s p50_ms p99_ms".
measure() { # port path
  taskset -c 1 wrk -t1 -c50 -d"$DURATION" --latency "http://127.0.0.1:$1$2" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    $1=="50%" {p50=$2} $1=="99%" {p99=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END {printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99)}'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RPS P50 P99
run_target() { # name port path
  local out=()
  for _ in $(seq "$ROUNDS"); do out+=("$(measure "$2" "$3")"); done
  RPS[$1]=$(printf '%s\n' "${out[@]}" | awk '{print $1}' | median)
  P50[$1]=$(printf '%s\n' "${out[@]}" | awk '{print $2}' | median)
  P99[$1]=$(printf '%s\n' "${out[@]}" | awk '{print $3}' | median)
  printf '%-22s %10s req/s  p50 %7s ms  p99 %7s ms   (rounds: %s)\n' "$1" "${RPS[$1]}" "${P50[$1]}" "${P99[$1]}" "$(printf '%s ' "${out[@]}" | awk '{for(i=1;i<=NF;i+=3) printf "%s ", $i}')"
}

echo "wrk -t1 -c50 -d$DURATION, $ROUNDS rounds, medians; servers on CPU 0, wrk on CPU 1"
run_target upstream $UP /robots.txt
run_target nginx-proxy $NGX /robots.txt
start_tollgate benches/wrk/rules-off.toml;     run_target tg-off $TG /robots.txt;     stop_tollgate
start_tollgate benches/wrk/rules-allowed.toml; run_target tg-allowed $TG /robots.txt; stop_tollgate
for close in true false; do
  sed "s/CLOSE/$close/" benches/wrk/rules-banned.toml > "$WORK/banned.toml"
  start_tollgate "$WORK/banned.toml"
  curl -s -o /dev/null http://127.0.0.1:$TG/; curl -s -o /dev/null http://127.0.0.1:$TG/
  [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$TG/)" = 403 ] || { echo "client not banned" >&2; exit 1; }
  name=tg-banned-$([ $close = true ] && echo close || echo keepalive)
  run_target "$name" $TG /; stop_tollgate
done

ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "filter-on / filter-off (tg-allowed / tg-off):          $(ratio tg-allowed tg-off)   target >= 0.95"
echo "reject / allowed (tg-banned-keepalive / tg-allowed):   $(ratio tg-banned-keepalive tg-allowed)   target >= 3"
echo "reject with close / allowed (tg-banned-close / tg-allowed): $(ratio tg-banned-close tg-allowed)"
echo "tollgate / nginx proxy_pass (tg-allowed / nginx-proxy): $(ratio tg-allowed nginx-proxy)"
echo "tollgate off / nginx proxy_pass (tg-off / nginx-proxy): $(ratio tg-off nginx-proxy)"

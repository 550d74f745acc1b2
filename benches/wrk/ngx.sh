#!/usr/bin/env bash
# The nginx module's cost, against plain nginx proxy_pass measured in the same run with wrk.
#
#   bash benches/wrk/ngx.sh             # 5 interleaved rounds of 5 s per target; medians, ratios
#   ROUNDS=7 DURATION=10s bash benches/wrk/ngx.sh
#
# All three front ends are the same nginx binary (built from the vendored source, release), one
# worker on CPU 0; wrk gets CPU 1 (-t1 -c50); the upstream is Debian's nginx `return 200`.
#   ngx-plain          proxy_pass, module not loaded
#   ngx-allowed        module loaded, `tollgate on`, full decision pipeline on an allowed path
#   ngx-banned         module answering a banned client (keep-alive kept)
# Needs: wrk, nginx (Debian's, for the upstream), the nginx build packages (see README).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx (apt-get install -y wrk nginx-light)" >&2; exit 1; }
cargo build --release -q -p tollgate-ngx
MODULE=$PWD/target/release/libtollgate_ngx.so
NGINX=$(ls -t target/release/build/nginx-sys-*/out/objs/nginx | head -1)
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

UP=18181
mkdir -p "$WORK/up/tmp"
sed -e "s|PREFIX|$WORK/up|g" -e "s|UPSTREAM_PORT|$UP|g" -e "s|NGINX_PROXY_PORT|18189|g" benches/wrk/upstream-nginx.conf > "$WORK/up/nginx.conf"
taskset -c 0 nginx -c "$WORK/up/nginx.conf" -p "$WORK/up" & PIDS+=($!)
wait_port $UP

echo "current = \"$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')\"" > "$WORK/secret.key"
sed 's/CLOSE/false/' benches/wrk/rules-banned.toml > "$WORK/rules-banned.toml"

start_nginx() { # name port rules-file-or-empty
  local dir=$WORK/$1 load="" module=""  # logs/: nginx opens its built-in error log before reading the config
  mkdir -p "$dir/tmp" "$dir/logs"
  if [ -n "$3" ]; then
    load="load_module $MODULE;"
    module="tollgate_rules $3; tollgate_secret_file $WORK/secret.key; tollgate_zone tollgate 16m; tollgate on;"
  fi
  sed -e "s|LOAD_MODULE|$load|" -e "s|MODULE|$module|" -e "s|PREFIX|$dir|g" \
    -e "s|UPSTREAM_PORT|$UP|g" -e "s|LISTEN_PORT|$2|g" benches/wrk/ngx-module.conf > "$dir/nginx.conf"
  taskset -c 0 "$NGINX" -p "$dir" -c "$dir/nginx.conf" & PIDS+=($!)
  wait_port "$2"
}
start_nginx ngx-plain 18182 ""
start_nginx ngx-allowed 18183 "$PWD/benches/wrk/rules-allowed.toml"
start_nginx ngx-banned 18184 "$WORK/rules-banned.toml"
curl -s -o /dev/null http://127.0.0.1:18184/; curl -s -o /dev/null http://127.0.0.1:18184/
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18184/)" = 403 ] || { echo "ngx-banned: client not banned" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18183/robots.txt)" = 200 ] || { echo "ngx-allowed: refused" >&2; exit 1; }

measure() { # port path
  taskset -c 1 wrk -t1 -c50 -d"$DURATION" --latency "http://127.0.0.1:$1$2" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    $1=="50%" {p50=$2} $1=="99%" {p99=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END {printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99)}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

TARGETS=(ngx-plain ngx-allowed ngx-banned)
declare -A PORT=([ngx-plain]=18182 [ngx-allowed]=18183 [ngx-banned]=18184)
declare -A PATHOF=([ngx-plain]=/robots.txt [ngx-allowed]=/robots.txt [ngx-banned]=/)
declare -A OUT RPS
echo "wrk -t1 -c50 -d$DURATION, $ROUNDS interleaved rounds, medians; nginx on CPU 0 (one worker), wrk on CPU 1"
for r in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do OUT[$t]+="$(measure "${PORT[$t]}" "${PATHOF[$t]}")"$'\n'; done
done
for t in "${TARGETS[@]}"; do
  RPS[$t]=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $1}' | median)
  p50=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $2}' | median)
  p99=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $3}' | median)
  printf '%-12s %8s req/s  p50 %6s ms  p99 %6s ms   rounds: %s\n' "$t" "${RPS[$t]}" "$p50" "$p99" "$(printf '%s' "${OUT[$t]}" | awk 'NF {printf "%s ", $1}')"
done
ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "module on, allowed / plain proxy_pass (ngx-allowed / ngx-plain): $(ratio ngx-allowed ngx-plain)   target >= 0.95"
echo "module, banned / plain proxy_pass (ngx-banned / ngx-plain):      $(ratio ngx-banned ngx-plain)"

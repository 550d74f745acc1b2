#!/usr/bin/env bash
# Throughput of tollgate against baselines measured in the same run, with wrk on loopback.
#
#   bash benches/wrk/run.sh            # 5 interleaved rounds of 5 s per target; medians, ratios
#   ROUNDS=5 DURATION=10s bash benches/wrk/run.sh
#
# Servers get CPU 0 and one worker thread; wrk gets CPU 1 (-t1 -c50). Targets:
#   upstream      nginx `return 200` (the upstream itself)
#   nginx-proxy   nginx proxy_pass to the upstream with keepalive
#   tg-off        tollgate, mode = "off" (proxying, no decision)
#   tg-allowed    tollgate, full decision pipeline on an allowed path
#   tg-cleared    tollgate, a challenge route, each request with a minted clearance cookie
#   tg-banned-close / tg-banned-keepalive   tollgate answering a banned client (with
#                 close_connection = true a known ban is dropped at accept, before any answer,
#                 so wrk completes no request there: 0 req/s is the expected figure)
#   tls-off       tollgate over TLS (wrk speaks HTTP/1.1 over TLS), mode = "off"
#   tls-cleared   tollgate over TLS, scoring on, a challenge route with a minted clearance cookie
# Needs: wrk, nginx (Debian's nginx-light is enough), a release build (made here).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/common.sh
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx (apt-get install -y wrk nginx-light)" >&2; exit 1; }
bench_setup

UP=18081; NGX=18082
start_upstream $UP $NGX

wait_port $UP; wait_port $NGX

start_tollgate() { # name port admin-port rules-file
  mkdir -p "$WORK/$1"
  taskset -c 0 "$BIN" run --rules "$4" --listen 127.0.0.1:$2 --admin 127.0.0.1:$3 \
    --upstream 127.0.0.1:$UP --state-dir "$WORK/$1" --threads 1 --log-refusals-per-sec 1 2>>"$WORK/$1/log" &
  PIDS+=($!)
  wait_port "$2"
}

# All servers run for the whole benchmark; each round measures every target once, in turn, so
# drift in the machine's speed hits every target alike.
start_tollgate tg-off 18083 18093 benches/wrk/rules-off.toml
start_tollgate tg-allowed 18084 18094 benches/wrk/rules-allowed.toml
start_tollgate tg-cleared 18087 18097 benches/wrk/rules-cleared.toml
CLEARED_UA=wrk-bench
COOKIE=$("$BIN" token --rules benches/wrk/rules-cleared.toml --state-dir "$WORK/tg-cleared" \
  --ip 127.0.0.1 --user-agent "$CLEARED_UA" --requests 4000000000)
[ "$(curl -s -o /dev/null -w '%{http_code}' -A "$CLEARED_UA" -b "$COOKIE" http://127.0.0.1:18087/)" = 200 ] \
  || { echo "tg-cleared: minted cookie refused" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18087/)" = 403 ] \
  || { echo "tg-cleared: a request without the cookie was not challenged" >&2; exit 1; }
start_tollgate tls-off 18088 18098 benches/wrk/rules-tls-off.toml
start_tollgate tls-cleared 18089 18099 benches/wrk/rules-tls-cleared.toml
wait_port 18443; wait_port 18444
# Over HTTPS the clearance is the __Host- cookie: minted with --https.
TLS_COOKIE=$("$BIN" token --rules benches/wrk/rules-tls-cleared.toml --state-dir "$WORK/tls-cleared" \
  --ip 127.0.0.1 --user-agent "$CLEARED_UA" --requests 4000000000 --https)
[ "$(curl -sk -o /dev/null -w '%{http_code}' -A "$CLEARED_UA" -b "$TLS_COOKIE" https://127.0.0.1:18444/)" = 200 ] \
  || { echo "tls-cleared: minted cookie refused" >&2; exit 1; }
[ "$(curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1:18444/)" = 403 ] \
  || { echo "tls-cleared: a request without the cookie was not challenged" >&2; exit 1; }
for close in true false; do
  name=tg-banned-$([ $close = true ] && echo close || echo keepalive)
  port=$([ $close = true ] && echo 18085 || echo 18086)
  sed "s/CLOSE/$close/" benches/wrk/rules-banned.toml > "$WORK/$name.toml"
  start_tollgate "$name" $port $((port + 10)) "$WORK/$name.toml"
  curl -s -o /dev/null http://127.0.0.1:$port/; curl -s -o /dev/null http://127.0.0.1:$port/
  # 403, or (closing banned connections) dropped at accept before any answer: 000.
  code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/ || true)
  [ "$code" = 403 ] || [ "$code" = 000 ] || { echo "$name: client not banned ($code)" >&2; exit 1; }
done

TARGETS=(upstream nginx-proxy tg-off tg-allowed tg-cleared tg-banned-close tg-banned-keepalive tls-off tls-cleared)
declare -A PORT=([upstream]=$UP [nginx-proxy]=$NGX [tg-off]=18083 [tg-allowed]=18084 [tg-cleared]=18087 [tg-banned-close]=18085 [tg-banned-keepalive]=18086 [tls-off]=18443 [tls-cleared]=18444)
declare -A PATHOF=([upstream]=/robots.txt [nginx-proxy]=/robots.txt [tg-off]=/robots.txt [tg-allowed]=/robots.txt [tg-cleared]=/robots.txt [tg-banned-close]=/ [tg-banned-keepalive]=/ [tls-off]=/robots.txt [tls-cleared]=/robots.txt)
declare -A COOKIEOF=([tg-cleared]="$COOKIE" [tls-cleared]="$TLS_COOKIE")
declare -A SCHEMEOF=([tls-off]=https [tls-cleared]=https)
declare -A OUT RPS P50 P99
echo "wrk -t1 -c50 -d$DURATION, $ROUNDS interleaved rounds, medians; servers on CPU 0 (one worker each), wrk on CPU 1"
for r in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do OUT[$t]+="$(measure "${PORT[$t]}" "${PATHOF[$t]}" "${COOKIEOF[$t]:-}" "${SCHEMEOF[$t]:-http}")"$'\n'; done
done
for t in "${TARGETS[@]}"; do
  RPS[$t]=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $1}' | median)
  P50[$t]=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $2}' | median)
  P99[$t]=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $3}' | median)
  printf '%-22s %8s req/s  p50 %6s ms  p99 %6s ms   rounds: %s\n' "$t" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "$(printf '%s' "${OUT[$t]}" | awk 'NF {printf "%s ", $1}')"
done

ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "filter-on / filter-off (tg-allowed / tg-off):          $(ratio tg-allowed tg-off)   target >= 0.95"
echo "cleared / filter-off (tg-cleared / tg-off):            $(ratio tg-cleared tg-off)   target >= 0.95"
echo "TLS cleared + scoring / TLS off (tls-cleared / tls-off): $(ratio tls-cleared tls-off)   target >= 0.95"
echo "reject / allowed (tg-banned-keepalive / tg-allowed):   $(ratio tg-banned-keepalive tg-allowed)   target >= 3"
echo "reject with close / allowed (tg-banned-close / tg-allowed): $(ratio tg-banned-close tg-allowed)"
echo "tollgate / nginx proxy_pass (tg-allowed / nginx-proxy): $(ratio tg-allowed nginx-proxy)"
echo "tollgate off / nginx proxy_pass (tg-off / nginx-proxy): $(ratio tg-off nginx-proxy)"

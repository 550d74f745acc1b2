#!/usr/bin/env bash
# What joining a fleet costs the hot path: tollgate with and without `[fleet]` (a real
# redis-server on the same machine), allowed and cleared traffic, with wrk on loopback.
#
#   bash benches/fleet/run.sh          # 5 interleaved rounds of 5 s per target; medians, ratios
#   ROUNDS=3 DURATION=10s bash benches/fleet/run.sh
#
# tollgate gets CPU 0 and one worker thread; wrk (-t1 -c50) and redis-server share CPU 1. Targets:
#   local-allowed / fleet-allowed   benches/wrk/rules-allowed.toml (an allow route; the
#                                   extreme-rate counter is the one limiter, and it is shared)
#   local-cleared / fleet-cleared   benches/wrk/rules-cleared.toml (a challenge route with a minted
#                                   clearance: default limit, per-clearance rate, budget, extreme
#                                   counter, all shared)
# Also printed: the store's commands per request in fleet mode (from INFO's
# total_commands_processed), which the 20 ms reconciliation batches.
# Needs: wrk, nginx (the upstream), redis-server; a release build (made here).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/common.sh
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
for c in wrk nginx redis-server redis-cli; do
  command -v $c >/dev/null || { echo "needs $c (apt-get install -y wrk nginx-light redis-server)" >&2; exit 1; }
done
bench_setup

UP=18181; NGX=18182; REDIS=18179
start_upstream $UP $NGX
taskset -c 1 redis-server --port $REDIS --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >/dev/null & PIDS+=($!)

wait_port $UP; wait_port $REDIS

start_tollgate() { # name port admin-port rules-file [fleet]
  mkdir -p "$WORK/$1"
  cp "$4" "$WORK/$1/rules.toml"
  [ -n "${5:-}" ] && printf '\n[fleet]\nredis_url = "redis://127.0.0.1:%s/0"\n' $REDIS >> "$WORK/$1/rules.toml"
  TOLLGATE_SECRET=$(printf 'ab%.0s' $(seq 32)) taskset -c 0 "$BIN" run --rules "$WORK/$1/rules.toml" \
    --listen 127.0.0.1:$2 --admin 127.0.0.1:$3 --upstream 127.0.0.1:$UP --state-dir "$WORK/$1" \
    --threads 1 --log-refusals-per-sec 1 2>>"$WORK/$1/log" &
  PIDS+=($!)
  wait_port "$2"
}

commands() { redis-cli -p $REDIS info stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }

start_tollgate local-allowed 18184 18194 benches/wrk/rules-allowed.toml
start_tollgate fleet-allowed 18185 18195 benches/wrk/rules-allowed.toml fleet
start_tollgate local-cleared 18186 18196 benches/wrk/rules-cleared.toml
start_tollgate fleet-cleared 18187 18197 benches/wrk/rules-cleared.toml fleet
token() { TOLLGATE_SECRET=$(printf 'ab%.0s' $(seq 32)) "$BIN" token --rules "$WORK/$1/rules.toml" --ip 127.0.0.1 --user-agent wrk-bench --requests 4000000000; }
COOKIE=$(token local-cleared)
for p in 18186 18187; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -A wrk-bench -b "$COOKIE" http://127.0.0.1:$p/)" = 200 ] \
    || { echo "port $p: minted cookie refused" >&2; exit 1; }
done
for name in fleet-allowed fleet-cleared; do
  p=$([ $name = fleet-allowed ] && echo 18195 || echo 18197)
  # (Read whole before grepping: under pipefail, `grep -q` quitting early fails curl's write.)
  up() { local m; m=$(curl -s http://127.0.0.1:$p/metrics); grep -q '^tollgate_fleet_up 1' <<<"$m"; }
  for _ in $(seq 150); do up && break; sleep 0.1; done
  up || { echo "$name: not in the fleet" >&2; grep -i fleet "$WORK/$name/log" >&2; exit 1; }
done

TARGETS=(local-allowed fleet-allowed local-cleared fleet-cleared)
declare -A PORT=([local-allowed]=18184 [fleet-allowed]=18185 [local-cleared]=18186 [fleet-cleared]=18187)
declare -A PATHOF=([local-allowed]=/robots.txt [fleet-allowed]=/robots.txt [local-cleared]=/robots.txt [fleet-cleared]=/robots.txt)
declare -A COOKIEOF=([local-cleared]="$COOKIE" [fleet-cleared]="$COOKIE")
declare -A OUT RPS P50 P99 OPS
echo "wrk -t1 -c50 -d$DURATION, $ROUNDS interleaved rounds, medians; tollgate on CPU 0 (one worker), wrk and redis-server on CPU 1"
for r in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    before=$(commands)
    line=$(measure "${PORT[$t]}" "${PATHOF[$t]}" "${COOKIEOF[$t]:-}")
    after=$(commands)
    OUT[$t]+="$line"$'\n'
    secs=${DURATION%s}
    OPS[$t]+="$(awk -v d=$((after - before)) -v rps="${line%% *}" -v s="$secs" 'BEGIN {printf "%.5f", (rps > 0 ? d / (rps * s) : 0)}')"$'\n'
  done
done
for t in "${TARGETS[@]}"; do
  RPS[$t]=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $1}' | median)
  P50[$t]=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $2}' | median)
  P99[$t]=$(printf '%s' "${OUT[$t]}" | awk 'NF {print $3}' | median)
  ops=$(printf '%s' "${OPS[$t]}" | awk 'NF {print $1}' | median)
  printf '%-14s %8s req/s  p50 %6s ms  p99 %6s ms  store commands/request %s   rounds: %s\n' "$t" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "$ops" "$(printf '%s' "${OUT[$t]}" | awk 'NF {printf "%s ", $1}')"
done
ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "fleet / local, allowed (fleet-allowed / local-allowed): $(ratio fleet-allowed local-allowed)   target >= 0.90"
echo "fleet / local, cleared (fleet-cleared / local-cleared): $(ratio fleet-cleared local-cleared)"

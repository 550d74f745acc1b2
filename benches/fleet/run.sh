#!/usr/bin/env bash
# What joining a fleet costs the hot path: tollgate with and without `[fleet]` (a real
# redis-server on the same machine), allowed and cleared traffic, with wrk on loopback.
#
#   bash benches/fleet/run.sh          # 5 interleaved rounds of 5 s per target; medians, ratios
#   ROUNDS=3 DURATION=10s bash benches/fleet/run.sh
#
# tollgate gets CPU 0 and one worker thread; wrk (-t1 -c50) and redis-server share CPU 1. Each
# rules file runs alone (local), in a fleet with reconciled limits (fleet) and in a fleet with
# `limits = "exact"` (exact: the store meters every limited request with its GCRA script):
#   *-allowed   benches/wrk/rules-allowed.toml (an allow route; the extreme-rate counter is the
#               one limiter, and it is shared; no limit to meter, so no exact target)
#   *-limited   benches/fleet/rules-limited.toml (no route: the default limit, out of reach)
#   *-cleared   benches/wrk/rules-cleared.toml (a challenge route with a minted clearance:
#               default limit, per-clearance rate, budget, extreme counter, all shared)
# Also printed: the store's commands per request (from INFO's total_commands_processed), which
# the 20 ms reconciliation batches and exact metering does not.
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

start_tollgate() { # name port admin-port rules-file [fleet|exact]
  mkdir -p "$WORK/$1"
  cp "$4" "$WORK/$1/rules.toml"
  [ -n "${5:-}" ] && printf '\n[fleet]\nredis_url = "redis://127.0.0.1:%s/0"\n' $REDIS >> "$WORK/$1/rules.toml"
  [ "${5:-}" = exact ] && printf 'limits = "exact"\n' >> "$WORK/$1/rules.toml"
  TOLLGATE_SECRET=$(printf 'ab%.0s' $(seq 32)) taskset -c 0 "$BIN" run --rules "$WORK/$1/rules.toml" \
    --listen 127.0.0.1:$2 --admin 127.0.0.1:$3 --upstream 127.0.0.1:$UP --state-dir "$WORK/$1" \
    --threads 1 --log-refusals-per-sec 1 2>>"$WORK/$1/log" &
  PIDS+=($!)
  wait_port "$2"
}

commands() { redis-cli -p $REDIS info stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }

TARGETS=(local-allowed fleet-allowed local-limited fleet-limited exact-limited local-cleared fleet-cleared exact-cleared)
declare -A PORT ADMIN RULES COOKIEOF
for i in "${!TARGETS[@]}"; do
  t=${TARGETS[$i]}; PORT[$t]=$((18184 + i)); ADMIN[$t]=$((18204 + i))
  RULES[$t]=benches/wrk/rules-${t#*-}.toml
done
RULES[local-limited]=benches/fleet/rules-limited.toml; RULES[fleet-limited]=benches/fleet/rules-limited.toml
RULES[exact-limited]=benches/fleet/rules-limited.toml
for t in "${TARGETS[@]}"; do
  mode=${t%%-*}; [ "$mode" = local ] && mode=
  start_tollgate "$t" "${PORT[$t]}" "${ADMIN[$t]}" "${RULES[$t]}" $mode
done
token() { TOLLGATE_SECRET=$(printf 'ab%.0s' $(seq 32)) "$BIN" token --rules "$WORK/$1/rules.toml" --ip 127.0.0.1 --user-agent wrk-bench --requests 4000000000; }
COOKIE=$(token local-cleared)
for t in local-cleared fleet-cleared exact-cleared; do
  COOKIEOF[$t]=$COOKIE
  [ "$(curl -s -o /dev/null -w '%{http_code}' -A wrk-bench -b "$COOKIE" http://127.0.0.1:${PORT[$t]}/)" = 200 ] \
    || { echo "$t: minted cookie refused" >&2; exit 1; }
done
for name in fleet-allowed fleet-limited exact-limited fleet-cleared exact-cleared; do
  p=${ADMIN[$name]}
  # (Read whole before grepping: under pipefail, `grep -q` quitting early fails curl's write.)
  up() { local m; m=$(curl -s http://127.0.0.1:$p/metrics); grep -q '^tollgate_fleet_up 1' <<<"$m"; }
  for _ in $(seq 150); do up && break; sleep 0.1; done
  up || { echo "$name: not in the fleet" >&2; grep -i fleet "$WORK/$name/log" >&2; exit 1; }
done

declare -A OUT RPS P50 P99 OPS
echo "wrk -t1 -c50 -d$DURATION, $ROUNDS interleaved rounds, medians; tollgate on CPU 0 (one worker), wrk and redis-server on CPU 1"
for r in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    before=$(commands)
    line=$(measure "${PORT[$t]}" /robots.txt "${COOKIEOF[$t]:-}")
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
echo "fleet / local, limited (fleet-limited / local-limited): $(ratio fleet-limited local-limited)   target >= 0.90"
echo "exact / local, limited (exact-limited / local-limited): $(ratio exact-limited local-limited)   target >= 0.90"
echo "fleet / local, cleared (fleet-cleared / local-cleared): $(ratio fleet-cleared local-cleared)"
echo "exact / local, cleared (exact-cleared / local-cleared): $(ratio exact-cleared local-cleared)"

#!/usr/bin/env bash
# Soak: tollgate under the abuse RELIABILITY.md reports, every figure measured in one run.
#
#   bash benches/soak/run.sh                 # prints a markdown report on stdout
#   RELOADS=200 SPRAY=100000 bash benches/soak/run.sh    # a shorter run
#
# 1. reloads: RELOADS rules reloads (SIGHUP, the file's content changing each time) during a wrk
#    run; failed requests, and p99 against a wrk run of the same length without reloads.
# 2. spray: SPRAY distinct client addresses through a trusted proxy's X-Forwarded-For (wrk +
#    Lua); RSS sampled as it goes.
# 3. slow: one address opens SLOW connections and sends half a header on each; a neighbour's p99
#    against its p99 before, RSS, and how many of the hog's connections were held.
# 4. black hole: an upstream that accepts and never answers; the time until tollgate's 504
#    with the default upstream_read_timeout_secs (60).
# 5. kill -9 under load: a client is banned, the ban saved, the process killed mid-wrk and
#    restarted on the same state directory; is the client still banned.
# Servers get CPU 0 and one worker thread, load generators CPU 1. Needs wrk, nginx, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
RELOADS=${RELOADS:-1000}
SPRAY=${SPRAY:-1000000}
SLOW=${SLOW:-10000}
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # SLOW connections need as many descriptors
cargo build --release -q -p tollgate-proxy
BIN=$PWD/target/release/tollgate
HERE=$PWD/benches/soak
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

UP=18181; NGX=18182; TG=18183; ADMIN=18193
mkdir -p "$WORK/nginx/tmp"
sed -e "s|PREFIX|$WORK/nginx|g" -e "s|UPSTREAM_PORT|$UP|g" -e "s|NGINX_PROXY_PORT|$NGX|g" \
  benches/wrk/upstream-nginx.conf > "$WORK/nginx/nginx.conf"
taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
wait_port $UP
TG_PID=
start_tollgate() { # rules-file [upstream-port]
  taskset -c 0 "$BIN" run --rules "$1" --listen 127.0.0.1:$TG --admin 127.0.0.1:$ADMIN \
    --upstream 127.0.0.1:${2:-$UP} --state-dir "$WORK/state" --threads 1 --log-refusals-per-sec 5 \
    2>>"$WORK/tollgate.log" &
  TG_PID=$!; PIDS+=($TG_PID)
  wait_port $TG
}
stop_tollgate() { kill -INT "$TG_PID" 2>/dev/null || true; wait "$TG_PID" 2>/dev/null || true; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$TG_PID/status"; }
# "req/s p99_ms non2xx_or_errors" of one wrk run.
wrk_run() { # duration [extra wrk args...]
  local d=$1; shift
  taskset -c 1 wrk -t1 -c20 -d"$d" --latency "$@" "http://127.0.0.1:$TG/" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2} $1=="99%" {p99=$2}
    /Non-2xx/ {bad+=$5} /Socket errors/ {gsub(",", ""); bad+=$4+$6+$8+$10}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END {printf "%.0f %.3f %d\n", rps, ms(p99), bad}'
}

cat > "$WORK/rules.toml" <<'EOF'
[clients]
trusted_proxies = ["127.0.0.1/32"]
[limit]
requests = 100000
per_secs = 1
burst = 100000
[bans]
extreme_requests = 0
violations = 0
EOF

echo "# Soak run $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git rev-parse --short HEAD)"
echo

# 1. Reloads under load.
start_tollgate "$WORK/rules.toml"
base=$(wrk_run 20s)
( for i in $(seq "$RELOADS"); do echo "# reload $i" >> "$WORK/rules.toml"; kill -HUP "$TG_PID"; sleep 0.018; done ) &
RL=$!
loaded=$(wrk_run 20s)
wait $RL
ok=$(curl -s "127.0.0.1:$ADMIN/metrics" | awk '/^tollgate_reloads_total\{result="ok"\}/ {print $2}')
read -r b_rps b_p99 b_bad <<<"$base"; read -r l_rps l_p99 l_bad <<<"$loaded"
echo "## 1. $RELOADS reloads under wrk (20 s, 20 connections)"
echo
echo "| run | req/s | p99 ms | failed |"
echo "|---|---|---|---|"
echo "| no reloads | $b_rps | $b_p99 | $b_bad |"
echo "| $RELOADS SIGHUPs, $ok reloads applied | $l_rps | $l_p99 | $l_bad |"
echo
awk -v a="$l_p99" -v b="$b_p99" 'BEGIN {printf "p99 with reloads / without: %.2f\n\n", a/b}'

# 2. Address spray through the trusted proxy, under a limit that keeps every key for a minute
# (one request per 60 s of credit), so the table fills to the bound instead of being swept.
stop_tollgate
sed -e 's/^requests = 100000$/requests = 60/' -e 's/^per_secs = 1$/per_secs = 3600/' \
  -e 's/^burst = 100000$/burst = 60/' "$WORK/rules.toml" > "$WORK/spray-rules.toml"
start_tollgate "$WORK/spray-rules.toml"
echo "## 2. $SPRAY-address spray through X-Forwarded-For"
echo
echo "| requests sent | RSS MiB |"
echo "|---|---|"
echo "| 0 | $(( $(rss_kib) / 1024 )) |"
echo "(limit: 60 requests per hour per client, so each key is kept a minute or more)"
secs=$(( (SPRAY / 8000 + 10) / 10 * 10 ))
SPRAY_N=$SPRAY taskset -c 1 wrk -t1 -c20 -d"${secs}s" -s "$HERE/spray.lua" "http://127.0.0.1:$TG/" > "$WORK/spray.out" 2>&1 &
WP=$!
for _ in $(seq $(( secs / 10 ))); do
  sleep 10
  sent=$(curl -s "127.0.0.1:$ADMIN/metrics" | awk '/^tollgate_decision_seconds_count/ {print $2}')
  echo "| ${sent%.*} | $(( $(rss_kib) / 1024 )) |"
done
wait $WP || true
keys=$(curl -s "127.0.0.1:$ADMIN/metrics" | awk '/^tollgate_tracked_keys/ {print $2}')
echo
evicted=$(curl -s "127.0.0.1:$ADMIN/metrics" | awk '/^tollgate_evicted_keys/ {print $2}')
echo "tracked keys at the end: $keys, evicted: $evicted (bound: max_tracked_keys, 1,000,000 per counter)"
echo
stop_tollgate

# 3. One address holding many unfinished requests.
start_tollgate "$WORK/rules.toml"
before=$(wrk_run 10s)
rss0=$(rss_kib)
taskset -c 1 python3 "$HERE/slow.py" 127.0.0.1 $TG "$SLOW" 25 > "$WORK/slow.out" &
SP=$!
sleep 8
during=$(wrk_run 10s)
rss1=$(rss_kib)
wait $SP || true
read -r _ s_p99 _ <<<"$before"; read -r _ d_p99 d_bad <<<"$during"
echo "## 3. One address, $SLOW connections with unfinished headers"
echo
echo "- hog: $(cat "$WORK/slow.out")"
echo "- a neighbour's p99: $s_p99 ms before, $d_p99 ms during ($d_bad failed)"
echo "- RSS: $(( rss0 / 1024 )) MiB before, $(( rss1 / 1024 )) MiB during"
echo "- closed by tollgate: $(curl -s "127.0.0.1:$ADMIN/metrics" | grep '^tollgate_connections_closed_total' | tr '\n' ' ')"
echo
stop_tollgate

# 4. Upstream black hole, default timeouts.
python3 - <<'EOF' & PIDS+=($!)
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 18184)); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)
EOF
wait_port 18184
start_tollgate "$WORK/rules.toml" 18184
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 120 "http://127.0.0.1:$TG/")
echo "## 4. Upstream black hole"
echo
echo "status and seconds to it, default upstream_read_timeout_secs = 60: $t"
echo
stop_tollgate

# 5. kill -9 under load: the ban comes back.
cat > "$WORK/ban-rules.toml" <<'EOF'
[limit]
requests = 100000
per_secs = 1
burst = 100000
[bans]
extreme_requests = 20
extreme_window_secs = 10
violations = 0
EOF
start_tollgate "$WORK/ban-rules.toml"
for _ in $(seq 25); do curl -s -o /dev/null --interface 127.0.21.1 "http://127.0.0.1:$TG/" || true; done
sleep 6   # one periodic save (every 5 s)
( sleep 2; kill -9 "$TG_PID" ) &
KP=$!
wrk_run 4s > "$WORK/kill.out" || true
wait $KP
wait "$TG_PID" 2>/dev/null || true
start_tollgate "$WORK/ban-rules.toml"
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.21.1 "http://127.0.0.1:$TG/" || true)
bans=$(curl -s "127.0.0.1:$ADMIN/bans" | grep -c '"network"' || true)
echo "## 5. kill -9 under load"
echo
echo "- wrk during the kill (req/s, p99 ms, failed): $(cat "$WORK/kill.out")"
echo "- banned client after the restart: HTTP $code (000: dropped at accept), bans listed: $bans"
echo
stop_tollgate

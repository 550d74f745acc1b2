# Sourced by the wrk runners (benches/wrk/run.sh, benches/fleet/run.sh): the release build and a
# scratch directory whose servers stop on exit, the upstream nginx, waiting for a port, one wrk
# measurement, and the median of a column.

# Builds tollgate (BIN) and makes WORK; every pid added to PIDS is killed on exit.
bench_setup() {
  cargo build --release -q -p tollgate-proxy
  BIN=$PWD/target/release/tollgate
  WORK=$(mktemp -d)
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }

# nginx on CPU 0: `return 200` on port $1 (the upstream), proxy_pass to it on port $2.
start_upstream() {
  mkdir -p "$WORK/nginx/tmp"
  sed -e "s|PREFIX|$WORK/nginx|g" -e "s|UPSTREAM_PORT|$1|g" -e "s|NGINX_PROXY_PORT|$2|g" benches/wrk/upstream-nginx.conf > "$WORK/nginx/nginx.conf"
  taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)
}

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# One wrk run on CPU 1: prints "req/s p50_ms p99_ms". With a cookie, it is sent with the user
# agent it is bound to ($BENCH_UA, default wrk-bench).
measure() { # port path [cookie] [scheme]
  local hdr=()
  [ -n "${3:-}" ] && hdr=(-H "Cookie: $3" -H "User-Agent: ${BENCH_UA:-wrk-bench}")
  taskset -c 1 wrk -t1 -c50 -d"$DURATION" --latency "${hdr[@]}" "${4:-http}://127.0.0.1:$1$2" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    $1=="50%" {p50=$2} $1=="99%" {p99=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END {printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99)}'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

#!/usr/bin/env bash
# The engine probes' time in a real page, in headless Chromium and Firefox ESR: the challenge
# page's PROBES table (taken from core/src/toll/assets/challenge.js, as served) runs once per
# fresh page load, timed with performance.now(); prints p50/p95 per browser (target <= 30 ms).
# Then the graphics probe's WebGL half, which the page's first worker reads (webgl() from
# core/src/toll/assets/worker.js, timed in a worker: off the page's thread, so not in the
# target), with what it found (ok, none or bad).
#
#   bash benches/probes/run.sh [RUNS]      (default 21 loads per browser)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-21}
work=$(mktemp -d)
server=
trap '[ -z "$server" ] || kill "$server"; rm -rf "$work"' EXIT
# The table and its helper, as the page has them: from "const PROBES" to the end of nullMessage.
sed -n '/^  const PROBES = {/,/^  function xorshift/p' core/src/toll/assets/challenge.js | sed '$d' > "$work/probes.js"
cat > "$work/page.html" <<'HTML'
<!doctype html><body><script src="probes.js"></script><script>
const t0 = performance.now(); let n = 0;
for (const f of Object.values(PROBES)) { try { f(); } catch (e) {} n++; }
document.body.textContent = 'probes=' + n + ' ms=' + (performance.now() - t0).toFixed(2);
</script>
HTML
sed -n '/^function webgl() {/,/^}/p' core/src/toll/assets/worker.js > "$work/webgl.js"
echo 'self.onmessage = () => { const t = performance.now(); const r = webgl(); self.postMessage("webgl=" + r + " ms=" + (performance.now() - t).toFixed(2)); };' >> "$work/webgl.js"
cat > "$work/worker.html" <<'HTML'
<!doctype html><body><script>
const w = new Worker('webgl.js'); w.onmessage = (e) => { document.body.textContent = e.data; }; w.postMessage(1);
</script>
HTML
# Workers need http: a file:// page may not start one. Loopback only, on a port the kernel picks.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q 'port [0-9]*' "$work/server.log" && break; sleep 0.1; done
port=$(grep -o 'port [0-9]*' "$work/server.log" | head -1 | cut -d' ' -f2)
[ -n "$port" ] || { echo "the page server did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"

stats() { sort -n | awk '{a[NR]=$1} END {printf "p50 %.2f ms, p95 %.2f ms (%d loads)\n", a[int((NR+1)/2)], a[int(NR*0.95+0.999)], NR}'; }
chromium() { node tests/browser/drive.mjs pass "$base/$1" "ms=" | grep -o "$2"'[^"]*' | head -1; }
firefox() { python3 tests/browser/firefox.py "$base/$1" "ms=" 60 | grep -o "$2"'[^"]*' | head -1; }
for browser in chromium firefox; do
  for i in $(seq "$runs"); do "$browser" page.html 'ms=' | cut -d= -f2; done |
    stats | sed "s/^/probes $browser: /"
  found=$("$browser" worker.html 'webgl=' | cut -d' ' -f1)
  for i in $(seq "$runs"); do "$browser" worker.html 'webgl=' | grep -o 'ms=.*' | cut -d= -f2; done |
    stats | sed "s/^/webgl in a worker, $browser ($found): /"
done

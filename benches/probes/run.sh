#!/usr/bin/env bash
# The engine probes' time in a real page, in headless Chromium and Firefox ESR: the challenge
# page's PROBES table (taken from core/src/toll/assets/challenge.js, as served) runs once per
# fresh page load, timed with performance.now(); prints p50/p95 per browser (target <= 30 ms).
#
#   bash benches/probes/run.sh [RUNS]      (default 21 loads per browser)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-21}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The table and its helper, as the page has them: from "const PROBES" to the end of nullMessage.
sed -n '/^  const PROBES = {/,/^  function xorshift/p' core/src/toll/assets/challenge.js | sed '$d' > "$work/probes.js"
cat > "$work/page.html" <<'HTML'
<!doctype html><body><script src="probes.js"></script><script>
const t0 = performance.now(); let n = 0;
for (const f of Object.values(PROBES)) { try { f(); } catch (e) {} n++; }
document.body.textContent = 'probes=' + n + ' ms=' + (performance.now() - t0).toFixed(2);
</script>
HTML
stats() { sort -n | awk '{a[NR]=$1} END {printf "p50 %.2f ms, p95 %.2f ms (%d loads)\n", a[int((NR+1)/2)], a[int(NR*0.95+0.999)], NR}'; }
for i in $(seq "$runs"); do
  node tests/browser/drive.mjs pass "file://$work/page.html" "ms=" | grep -o 'ms=[0-9.]*' | head -1 | cut -d= -f2
done | stats | sed 's/^/probes chromium: /'
for i in $(seq "$runs"); do
  python3 tests/browser/firefox.py "file://$work/page.html" "ms=" 60 | grep -o 'ms=[0-9.]*' | head -1 | cut -d= -f2
done | stats | sed 's/^/probes firefox: /'

// Drives Debian's Chromium (headless, via playwright-core) against a running tollgate.
//
//   node drive.mjs pass URL MARKER        open URL, wait until the page shows MARKER (the backend's
//                                         content); print what happened as one JSON line
//   node drive.mjs nojs URL MARKER        the same with JavaScript disabled
//   node drive.mjs solves URL MARKER N    N fresh visits; print the solve time of each (ms, as the
//                                         page measured it) and the time to the backend's content
//   node drive.mjs tabs URL MARKER N      N tabs of one browser context at once, tab i opening
//                                         URL<i> and waiting for MARKER<i>; print each tab's outcome
//   node drive.mjs hashrate ORIGIN N [SOLVER]  hash N candidates in one Web Worker, 5 times; print
//                                         MH/s (SOLVER: wasm-simd, wasm or js; default the page's)
//   node drive.mjs langs URL LOCALES [DIR] open URL once per browser locale (comma-separated, e.g.
//                                         de-DE,ja-JP) while the page works; print what it shows
//                                         (<html lang>, heading, status line); with DIR, save a
//                                         screenshot of each as DIR/challenge-<lang>.png
//
//   node drive.mjs walk URLS WAITS        one context opens each of the comma-separated URLS in turn,
//                                         pausing WAITS[i] ms (comma-separated) after page i: a
//                                         person's ordinary navigation; print each page's outcome
//
// TOLLGATE_NO_WASM=1 runs Chromium without WebAssembly (the page's fallback).
// TOLLGATE_AS=person runs it as a person's Chromium would look: no automation flag
// (navigator.webdriver false) and a user agent without "HeadlessChrome". TOLLGATE_AS=firefox or
// safari: Chromium claiming to be that browser (its user agent only, as a spoofing script does).
//
// Exit status 0 only when the browser reached MARKER (or the rate was measured).
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Without the background-networking flags, Chromium keeps dialing Google on a closed network.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--ignore-certificate-errors',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// TOLLGATE_NO_WASM=1: V8 without WebAssembly, so the page must fall back to its JavaScript search.
// Jitless V8 has none (as in hardened modes such as Safari's Lockdown and Edge's enhanced
// security); --noexpose-wasm no longer hides it from pages or workers in this Chromium.
if (process.env.TOLLGATE_NO_WASM === '1') ARGS.push('--js-flags=--jitless');
const CLAIMS = {
  person: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0',
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15',
};
const AS = process.env.TOLLGATE_AS || '';
if (AS === 'person') ARGS.push('--disable-blink-features=AutomationControlled');
// Options of every context: the locale, and the user agent TOLLGATE_AS claims.
function contextOptions(extra = {}) {
  return { locale: 'en-US', ...(CLAIMS[AS] ? { userAgent: CLAIMS[AS] } : {}), ...extra };
}

async function visit(browser, url, marker, javaScriptEnabled = true) {
  const context = await browser.newContext(contextOptions({ javaScriptEnabled }));
  const page = await context.newPage();
  const seen = [];
  let solveMs = null;
  let verify = null;
  page.on('response', (r) => seen.push({ url: r.url(), status: r.status(), reason: r.headers()['x-tollgate-reason'] || null }));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/.tollgate/verify') {
      solveMs = Number(u.searchParams.get('ms'));
      verify = { challenge: u.searchParams.get('challenge'), nonce: u.searchParams.get('nonce'), solver: u.searchParams.get('sv'), probes: u.searchParams.get('pr'), probe_ms: Number(u.searchParams.get('pt')) };
    }
  });
  const started = Date.now();
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  let ok = true;
  try {
    // Without JavaScript, waitForFunction cannot run in the page: poll its text from here.
    const deadline = Date.now() + 60000;
    while (!(await page.evaluate((m) => !!document.body && document.body.innerText.includes(m), marker).catch(() => false))) {
      if (Date.now() > deadline) throw new Error('timeout');
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    ok = false;
  }
  const result = {
    ok,
    elapsed_ms: Date.now() - started,
    solve_ms: solveMs,
    // The answer the page sent: the test opens its signed token to see the price it paid.
    verify,
    user_agent: await page.evaluate(() => navigator.userAgent),
    final_url: page.url(),
    text: (await page.evaluate(() => document.body ? document.body.innerText : '')).slice(0, 400),
    cookies: (await context.cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure })),
    responses: seen,
  };
  await context.close();
  return result;
}

async function tabs(browser, url, marker, n) {
  const context = await browser.newContext(contextOptions());
  // Every tab is open before any navigates: opening one can take longer than another tab's
  // whole solve on a loaded machine, and a tab opened after a clearance has no challenge.
  const pages = [];
  for (let i = 0; i < n; i++) pages.push(await context.newPage());
  const one = async (i) => {
    const page = pages[i];
    const started = Date.now();
    await page.goto(url + i, { waitUntil: 'domcontentloaded' });
    const ok = await page.waitForFunction((m) => document.body && document.body.innerText.includes(m),
      marker + i, { timeout: 60000 }).then(() => true, () => false);
    return { tab: i, ok, elapsed_ms: Date.now() - started, text: (await page.innerText('body').catch(() => '')).slice(0, 200) };
  };
  const out = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const cookies = (await context.cookies()).map((c) => c.name);
  await context.close();
  return { ok: out.every((t) => t.ok), tabs: out, cookies };
}

async function walk(browser, urls, waits) {
  const context = await browser.newContext(contextOptions());
  const page = await context.newPage();
  const pages = [];
  const gaps = waits.split(',').map(Number);
  for (const [i, url] of urls.split(',').entries()) {
    const r = await page.goto(url, { waitUntil: 'load' });
    pages.push({ url, status: r ? r.status() : null, reason: r ? r.headers()['x-tollgate-reason'] || null : null });
    await new Promise((done) => setTimeout(done, gaps[i] || 0));
  }
  await context.close();
  return { ok: pages.every((p) => p.status === 200), pages };
}

async function hashrate(browser, origin, n, solver) {
  const page = await browser.newPage();
  await page.goto(origin + '/.tollgate/worker.js');
  const runs = [];
  let engine = null;
  for (let i = 0; i < 5; i++) {
    const run = await page.evaluate(async ([n, solver]) => {
      // As the challenge page does: the module compiled here, handed to the worker.
      const file = { 'wasm-simd': 'search-simd.wasm', wasm: 'search.wasm' }[solver || 'wasm-simd'];
      const module = file && await WebAssembly.compile(await (await fetch('/.tollgate/' + file)).arrayBuffer());
      return new Promise((resolve, reject) => {
      const w = new Worker('/.tollgate/worker.js');
      let t0 = performance.now(), engine = null;
      w.onmessage = (ev) => {
        // Timed from the worker's word of which search it runs: fetching and compiling the
        // module are not hashing.
        if (ev.data.engine) { engine = ev.data.engine; t0 = performance.now(); }
        if (ev.data.exhausted || ev.data.nonce) { w.terminate(); resolve({ ms: performance.now() - t0, engine }); }
      };
      w.onerror = (e) => reject(new Error(e.message));
      // A range puzzle whose target no candidate hits: exactly n hashes.
      w.postMessage({ prefix: 'f'.repeat(64), puzzle: 'range', param: n, target: '0'.repeat(64), index: 0, workers: 1, module, engine: solver || 'wasm-simd' });
    }); }, [n, solver]);
    runs.push(run.ms);
    engine = run.engine;
  }
  const mhs = runs.map((ms) => n / ms / 1000).sort((a, b) => a - b);
  return { hashes: n, engine, runs_ms: runs, mhs, median_mhs: mhs[2], cores: await page.evaluate(() => navigator.hardwareConcurrency) };
}

async function langs(browser, url, locales, dir) {
  const out = [];
  for (const locale of locales.split(',')) {
    const context = await browser.newContext({ locale, viewport: { width: 720, height: 480 } });
    const page = await context.newPage();
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    // The status line is written once the worker reports: the page is working, in its language.
    await page.waitForFunction(() => (document.getElementById('tollgate-status') || {}).textContent, null, { timeout: 20000, polling: 50 });
    const shown = await page.evaluate(() => ({
      lang: document.documentElement.lang,
      heading: document.querySelector('h1').textContent,
      status: document.getElementById('tollgate-status').textContent,
      progress_label: document.getElementById('tollgate-progress').getAttribute('aria-label'),
    }));
    if (dir) {
      await page.screenshot({ path: `${dir}/challenge-${shown.lang}.png` });
    }
    out.push({ locale, ...shown });
    await context.close();
  }
  return out;
}

const [mode, a, b, c] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
let code = 1;
try {
  if (mode === 'pass' || mode === 'nojs') {
    const r = await visit(browser, a, b, mode === 'pass');
    console.log(JSON.stringify(r));
    code = r.ok ? 0 : 1;
  } else if (mode === 'solves') {
    const out = [];
    for (let i = 0; i < Number(c); i++) {
      const r = await visit(browser, a, b);
      if (!r.ok) { console.log(JSON.stringify(r)); break; }
      out.push({ solve_ms: r.solve_ms, elapsed_ms: r.elapsed_ms });
    }
    console.log(JSON.stringify({ runs: out }));
    code = out.length === Number(c) ? 0 : 1;
  } else if (mode === 'tabs') {
    const r = await tabs(browser, a, b, Number(c));
    console.log(JSON.stringify(r));
    code = r.ok ? 0 : 1;
  } else if (mode === 'walk') {
    const r = await walk(browser, a, b);
    console.log(JSON.stringify(r));
    code = r.ok ? 0 : 1;
  } else if (mode === 'langs') {
    console.log(JSON.stringify(await langs(browser, a, b, c)));
    code = 0;
  } else if (mode === 'hashrate') {
    console.log(JSON.stringify(await hashrate(browser, a, Number(b), c)));
    code = 0;
  } else {
    console.error('usage: drive.mjs pass URL MARKER | nojs URL MARKER | solves URL MARKER N | tabs URL MARKER N | walk URLS WAITS | hashrate ORIGIN N [SOLVER] | langs URL LOCALES [DIR]');
    code = 2;
  }
} finally {
  await browser.close();
}
process.exit(code);

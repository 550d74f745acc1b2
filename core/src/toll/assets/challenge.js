// Tollgate challenge page: solve the proof-of-work on every core, then submit the answer.
//
// The challenge comes in the page as JSON (#tollgate-data). Workers (/.tollgate/worker.js) split
// the nonces, each running the search the page compiled for them (sent with the answer: `sv`); the first answer wins, the others are stopped, and the form is submitted to
// /.tollgate/verify, which sets the clearance cookie and redirects back to the page asked for.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('tollgate-data').textContent);
  const form = document.getElementById('tollgate-form');
  const bar = document.getElementById('tollgate-progress');
  const status = document.getElementById('tollgate-status');
  const cores = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 16));
  const started = performance.now();
  const pool = [];
  let hashes = 0;
  let finished = false;
  // Which search the workers run (wasm-simd, wasm or js): sent with the answer, for the
  // operator's logs and measurements; nothing decides on it.
  let solver = '';
  // What the first worker found of WebGL: 'ok', 'none' (no context there) or 'bad'.
  let webgl = '';

  function show(text) { status.textContent = text; }

  // Engine probes (core/src/score/probes.rs names and judges each): what this engine and DOM
  // are, checked on the server against the browser the user agent claims. Each answers
  // true/false, or null when it cannot be asked here. Nothing they read leaves the page but
  // these answers; the canvas pixels are compared here and dropped.
  const PROBES = {
    error_message_v8: () => nullMessage(/^Cannot read properties of null/),
    error_message_sm: () => nullMessage(/^(can't access property|null has no properties)/),
    error_message_jsc: () => nullMessage(/ is not an object/),
    stack_message_line: () => /^Error: tg\n/.test(new Error('tg').stack || ''),
    native_code_one_line: () => !/\n/.test(Function.prototype.toString.call(Math.max)),
    window_chrome: () => typeof window.chrome === 'object' && window.chrome !== null,
    moz_inner_screen: () => 'mozInnerScreenX' in window,
    vendor_google: () => navigator.vendor === 'Google Inc.',
    vendor_apple: () => /^Apple/.test(navigator.vendor || ''),
    css_moz_appearance: () => CSS.supports('-moz-appearance', 'none'),
    css_webkit_app_region: () => CSS.supports('-webkit-app-region', 'drag'),
    gesture_event: () => 'GestureEvent' in window,
    intl_segmenter: () => typeof Intl.Segmenter === 'function',
    intl_duration_format: () => typeof Intl.DurationFormat === 'function',
    user_agent_data: () => (window.isSecureContext ? 'userAgentData' in navigator : null),
    // Shapes, not text (a font's first use costs more than every other probe together), read
    // back at one pixel. WebGL's limits are read by the first worker, off this thread (making a
    // context costs 8-24 ms without a GPU): an insane answer there turns this one to no.
    graphics: () => {
      const c = document.createElement('canvas');
      c.width = 8; c.height = 8;
      const g = c.getContext('2d');
      if (!g) return false;
      g.fillStyle = '#f60'; g.beginPath(); g.arc(4, 4, 3, 0, 2 * Math.PI); g.fill();
      const px = g.getImageData(4, 4, 1, 1).data;
      // Near the colour, not exactly: anti-fingerprinting noise moves pixels by a few levels.
      return px[0] > 200 && px[1] > 60 && px[1] < 150 && px[3] > 200;
    },
    // Automation tells.
    headless_window: () => outerWidth === 0 || screen.width === 0 || (outerWidth === innerWidth && outerHeight === innerHeight),
    no_plugins: () => navigator.plugins.length === 0 && navigator.mimeTypes.length === 0,
    devtools_open: () => outerWidth - innerWidth > 160 || outerHeight - innerHeight > 200,
  };

  function nullMessage(pattern) {
    try { null.x; } catch (e) { return pattern.test(e.message); }
    return false;
  }

  function xorshift(x) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; }

  // This challenge's probes in its order, each answered 0 (no), 1 (yes) or 2 (not answered).
  function ask() {
    return data.probes.map((name) => {
      try {
        const r = PROBES[name] ? PROBES[name]() : null;
        if (r === true || r === false) return r ? 1 : 0;
      } catch (e) {
        // Not answered.
      }
      return 2;
    });
  }

  // The answers, each shifted by a key stream, then a check over them: bound to this
  // challenge (Plan::encode). `webgl` is the first worker's reading ('bad' turns graphics to no;
  // none yet, when another worker found the answer first on an easy puzzle: the 2D check alone).
  function encode(answers) {
    let stream = data.probe_key >>> 0;
    let check = (data.probe_key ^ 0x9e3779b9) >>> 0;
    let digits = '';
    data.probes.forEach((name, i) => {
      const v = name === 'graphics' && webgl === 'bad' && answers[i] === 1 ? 0 : answers[i];
      stream = xorshift(stream);
      digits += String((v + stream % 3) % 3);
      check = Math.imul(check ^ v, 0x01000193) >>> 0;
    });
    check = Math.imul(check ^ (check >>> 15), 0x2c1b3c6d) >>> 0;
    check = (check ^ (check >>> 12)) >>> 0;
    return digits + '.' + check.toString(16).padStart(8, '0');
  }

  function progress() {
    const secs = (performance.now() - started) / 1000;
    const rate = hashes / Math.max(secs, 0.001);
    // Range puzzles end by `param` hashes at worst; hashcash is memoryless, so the estimate is
    // the mean and the bar approaches the end without reaching it.
    const frac = data.puzzle === 'range' ? hashes / data.param : 1 - Math.exp(-hashes / data.expected);
    bar.value = Math.min(frac, 0.99);
    const left = data.puzzle === 'range'
      ? Math.max(0, data.expected - hashes) / rate
      : data.expected / rate;
    if (secs > 0.3) show(data.text.eta.replace('{s}', Math.max(1, Math.round(left))));
  }

  function finish(nonce) {
    if (finished) return;
    finished = true;
    pool.forEach((w) => w.terminate());
    bar.value = 1;
    show(data.text.done);
    form.elements.challenge.value = data.token;
    form.elements.nonce.value = nonce;
    form.elements.return.value = data.return_to;
    form.elements.ms.value = String(Math.round(performance.now() - started));
    // Behaviour fields scored with the answer (nothing is stored): automation flag, cores,
    // and whether the page is being looked at.
    form.elements.wd.value = navigator.webdriver ? '1' : '0';
    form.elements.hc.value = String(navigator.hardwareConcurrency || 0);
    form.elements.vis.value = document.visibilityState || 'unknown';
    form.elements.sv.value = solver;
    form.elements.pr.value = encode(answers);
    // How long the probes took (for the operator's measurements; nothing decides on it).
    form.elements.pt.value = probeMs.toFixed(1);
    form.submit();
  }

  function fail(why) {
    if (finished) return;
    finished = true;
    pool.forEach((w) => w.terminate());
    show(data.text.failed + why);
  }

  // The fastest search this browser runs (data.solvers: WebAssembly with SIMD, then scalar),
  // fetched and compiled once and handed to every worker; none (WebAssembly off or refused):
  // the workers' JavaScript search.
  async function compile() {
    if (typeof WebAssembly !== 'object') return null;
    for (const s of data.solvers) {
      try {
        const bytes = await (await fetch(s.url)).arrayBuffer();
        if (WebAssembly.validate(bytes)) return { engine: s.engine, module: await WebAssembly.compile(bytes) };
      } catch (e) {
        // The next one.
      }
    }
    return null;
  }

  let exhausted = 0;
  function start(compiled) {
    solver = compiled ? compiled.engine : 'js';
    for (let i = 0; i < cores; i++) {
      if (!spawn(i, compiled)) return;
    }
    show(data.text.working);
  }

  function spawn(i, compiled) {
    let worker;
    try {
      worker = new Worker(data.worker);
    } catch (e) {
      fail(String(e));
      return false;
    }
    worker.onmessage = (ev) => {
      const m = ev.data;
      // A worker that could not instantiate the module says it runs JavaScript instead.
      if (m.engine) { if (m.engine === 'js') solver = 'js'; }
      else if (m.webgl) webgl = m.webgl;
      else if (m.nonce !== undefined) finish(m.nonce);
      else if (m.exhausted && ++exhausted === cores) fail('no answer found');
      else if (m.hashes) { hashes += m.hashes; progress(); }
    };
    worker.onerror = (ev) => fail(ev.message || 'worker error');
    worker.postMessage({
      prefix: data.prefix, puzzle: data.puzzle, param: data.param, target: data.target,
      index: i, workers: cores, webgl: i === 0 && data.probes.includes('graphics'),
      module: compiled ? compiled.module : null, engine: compiled ? compiled.engine : 'js',
    });
    pool.push(worker);
    return true;
  }
  // The search is fetched while the probes run, so they cost the page little or no wait.
  const compiling = compile();
  const probeStarted = performance.now();
  const answers = ask();
  const probeMs = performance.now() - probeStarted;
  compiling.then(start, () => start(null));
})();

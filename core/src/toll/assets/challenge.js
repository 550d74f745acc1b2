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

  function show(text) { status.textContent = text; }

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
      else if (m.nonce !== undefined) finish(m.nonce);
      else if (m.exhausted && ++exhausted === cores) fail('no answer found');
      else if (m.hashes) { hashes += m.hashes; progress(); }
    };
    worker.onerror = (ev) => fail(ev.message || 'worker error');
    worker.postMessage({
      prefix: data.prefix, puzzle: data.puzzle, param: data.param, target: data.target,
      index: i, workers: cores,
      module: compiled ? compiled.module : null, engine: compiled ? compiled.engine : 'js',
    });
    pool.push(worker);
    return true;
  }
  compile().then(start, () => start(null));
})();

// Checks the generated WebAssembly searches against node's own SHA-256: for both modules
// (scalar and SIMD), both puzzle kinds, several nonce splits, counts that are not a multiple of
// the SIMD module's four lanes, and the extreme difficulties (1 bit: the threshold is 2^31, which
// only an unsigned compare gets right; 32 bits: nothing wins), the index returned is the first
// nonce that wins.
//
//   node tests/browser/wasm-search.mjs search.wasm search-simd.wasm
//
// Prints one JSON line per module ({"module", "cases"}); exits non-zero on the first mismatch.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

// SHA-256's constants from their definition (FIPS 180-4: the first 32 bits of the fractional
// parts of the square roots of the first 8 primes, the cube roots of the first 64), so this
// reference shares no table with the code it checks.
const PRIMES = [];
for (let n = 2; PRIMES.length < 64; n++) if (PRIMES.every((p) => n % p)) PRIMES.push(n);
const frac32 = (x) => Math.floor((x - Math.floor(x)) * 2 ** 32) | 0;
const K = PRIMES.map((p) => frac32(Math.cbrt(p)));
const IV = PRIMES.slice(0, 8).map((p) => frac32(Math.sqrt(p)));
const rotr = (x, n) => (x >>> n) | (x << (32 - n));

// The state after the 64-byte prefix block: what the worker writes into the module's memory.
function midstate(prefix) {
  const w = new Int32Array(64);
  for (let i = 0; i < 16; i++) w[i] = prefix.readInt32BE(4 * i);
  for (let i = 16; i < 64; i++) {
    const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
    const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let [a, b, c, d, e, f, g, h] = IV;
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    [h, g, f, e, d, c, b, a] = [g, f, e, (d + t1) | 0, c, b, a, (t1 + t2) | 0];
  }
  return IV.map((x, i) => (x + [a, b, c, d, e, f, g, h][i]) | 0);
}

function hash(prefix, hi, lo) {
  const nonce = Buffer.alloc(8);
  nonce.writeUInt32BE(hi >>> 0, 0);
  nonce.writeUInt32BE(lo >>> 0, 4);
  return createHash('sha256').update(prefix).update(nonce).digest();
}

// The reference: index of the first winning try, or -1.
function first(prefix, hi, start, step, count, test) {
  for (let i = 0; i < count; i++) if (test(hash(prefix, hi, (start + i * step) >>> 0))) return i;
  return -1;
}

function check(file) {
  const { exports: x } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)));
  const search = x.search;
  const mem = new Int32Array(x.mem.buffer, 0, 16);
  let cases = 0;
  for (const seed of ['a', 'b', 'c']) {
    const prefix = Buffer.from(createHash('sha256').update(seed).digest('hex'));
    mem.set(midstate(prefix), 0);
    for (const [hi, start, step, count, bits] of [[0, 0, 1, 5000, 10], [7, 3, 1, 4093, 9], [1, 5, 3, 2001, 8], [0, 0, 1, 7, 2], [2, 0xfffffff0, 1, 300, 6], [0, 0, 1, 40, 1], [3, 9, 2, 3001, 32]]) {
      const want = first(prefix, hi, start, step, count, (d) => d.readUInt32BE(0) < 2 ** (32 - bits));
      const got = search(hi, start | 0, step, count, (2 ** (32 - bits)) | 0, 0);
      if (got !== want) throw new Error(`${file} hashcash ${seed} ${[hi, start, step, count, bits]}: ${got}, want ${want}`);
      cases++;
    }
    // Range: the target is one nonce's hash, found at its index and not before.
    for (const [start, step, count, at] of [[0, 1, 1000, 777], [2, 4, 503, 501], [1, 2, 9, 8], [0, 1, 64, 63]]) {
      const target = hash(prefix, 0, start + at * step);
      for (let j = 0; j < 8; j++) mem[8 + j] = target.readInt32BE(4 * j);
      const got = search(0, start, step, count, 0, 1);
      if (got !== at) throw new Error(`${file} range ${seed} ${[start, step, count]}: ${got}, want ${at}`);
      if (search(0, start, step, at, 0, 1) !== -1) throw new Error(`${file} range: found before ${at}`);
      cases += 2;
    }
  }
  console.log(JSON.stringify({ module: file, cases }));
}

for (const f of process.argv.slice(2)) check(f);

// Cairn web tracker: the JavaScript side of the wasm's boundary, written by hand
// (src/host.rs is the other side; its rules apply). Loads the wasm, gives it its
// imports (module "cairn"), wraps its exports. Numbers cross as numbers; text and
// bytes as (pointer, length) in the wasm's memory: an export's arguments are written
// into one block from the wasm's `alloc` (the export takes it over), text an import
// receives is copied out during the call. No JavaScript value is held by the wasm.
// An export that fails reports its message through `fail`; the wrapper throws it as
// an Error.
// Names on the wire are one letter (see src/host.rs): imports s send, b beacon,
// w wake, p put, c commit, d settled, f fail, n now; exports A alloc, L out_len,
// S start, C call, T ctl, O stored.

// The host: send, beacon, wake, put, commit, settled (filled by cairn.js).
export const h = {};
let x, failed;
const enc = new TextEncoder(), dec = new TextDecoder();
const mem = () => new Uint8Array(x.memory.buffer);
const str = (p, n) => dec.decode(mem().subarray(p, p + n));
// An export's arguments (text or bytes) one after another in one block from `alloc`:
// [block, size, then each one's pointer and byte length]. Text is encoded in place
// (`encodeInto`: no array of its own) in the room for its worst case, 3 bytes per
// UTF-16 unit. alloc may grow the memory, so the view is taken after it.
function args(...a) {
  let n = 0;
  for (const s of a) n += 3 * s.length;
  let o = x.A(n);
  const r = [o, n], m = mem();
  for (const s of a) {
    const l = s.buffer ? (m.set(s, o), s.length) : enc.encodeInto(s, m.subarray(o)).written;
    r.push(o, l);
    o += l;
  }
  return r;
}
const imports = {
  cairn: {
    s: (id, u, ul, hd, hl, b, bl) => h.send(id, str(u, ul), str(hd, hl), mem().subarray(b, b + bl)),
    b: (u, ul, b, bl) => h.beacon(str(u, ul), str(b, bl)),
    w: (ms) => h.wake(ms),
    p: (k, kl, v, vl, del) => h.put(str(k, kl), del ? undefined : mem().slice(v, v + vl)),
    c: () => h.commit(),
    d: (oldest, e, el) => h.settled(oldest, str(e, el)),
    f: (m, ml) => { failed = str(m, ml); }, // fail
    n: () => Date.now(),
    random: (p, n) => { crypto.getRandomValues(mem().subarray(p, p + n)); },
    // Non-ASCII e-mails: the browser's Unicode lower-case (see sdk/src/identity.rs).
    lower: (p, n, out) => { new Uint32Array(x.memory.buffer, out, 4).set(args(str(p, n).toLowerCase())); },
  },
};
const done = (r) => {
  const e = failed;
  failed = undefined;
  if (e !== undefined) throw new Error(e);
  return r;
};

// Fetches and instantiates the wasm (next to this module unless `url` says where).
export async function load(url) {
  if (x) return;
  const r = fetch(url || new URL('cairn_wasm_bg.wasm', import.meta.url));
  let m;
  try {
    m = await WebAssembly.instantiateStreaming(r, imports);
  } catch (e) {
    // A server that does not say application/wasm: compile from the bytes.
    m = await WebAssembly.instantiate(await (await r).arrayBuffer(), imports);
  }
  x = m.instance.exports;
}

// The exports (see src/lib.rs for what each does).
export const start = (writeKey, endpoint, hashKey, nums, flags, consent, context) =>
  done(x.S(...args(writeKey, endpoint, hashKey, context), ...nums, flags, consent));
export const call = (op, a, b, c) => done(x.C(op, ...args(a, b, c)) !== 0);
export const ctl = (op, a, b, c) => done(x.T(op, a, b, c));
export function stored(purpose, key, value) {
  const p = done(x.O(purpose, ...args(key, value)));
  return str(p, x.L());
}

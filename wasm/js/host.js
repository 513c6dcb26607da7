// Cairn web tracker: what the wasm imports (src/lib.rs's `raw_module = "./host.js"`
// block). Plain functions, forwarded to the host object cairn.js registers, so no
// JavaScript object ever crosses into the wasm (no externref table in it, no glue
// for one). `fail` records the error of the export in progress; cairn.js throws it
// as an Error when that export returns.
export const h = {};
export const send = (id, url, headers, body) => h.send(id, url, headers, body);
export const beacon = (url, body) => h.beacon(url, body);
export const wake = (ms) => h.wake(ms);
export const put = (k, v) => h.put(k, v);
export const commit = () => h.commit();
export const settled = (oldest, err) => h.settled(oldest, err);
export const fail = (m) => { h.failed = m; };

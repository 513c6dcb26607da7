// Main-thread benchmark of the web tracker in Debian's headless Chromium (not part
// of the test command; see wasm/README.md): prints
//   - track(): microseconds per call over 1,000 calls (median of 7 runs, after a
//     warm-up), with autocapture and page context on and the default flushAt (20), so
//     the batches built every 20 calls are in the figure;
//   - page load with autocapture on: init() time, and every long task (> 50 ms,
//     PerformanceObserver 'longtask', buffered from the first byte) from navigation
//     until 3 s after init, next to the same page without the tracker.
// Needs wasm/pkg (bash wasm/build.sh) and wasm/tests/browser/node_modules. Serves
// the page and pkg itself and answers /v1/batch with 200 (no collector needed).
// Usage: node wasm/tests/browser/bench.mjs
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join, normalize } from 'node:path';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '../../pkg');
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
// A shop-like page: text, links, a form and 24 product tiles.
const page = (tracker) => `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
<script>window.longtasks = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) longtasks.push({ start: Math.round(e.startTime), ms: Math.round(e.duration), src: e.attribution.map((a) => a.containerSrc || a.name).join(' ') }); }).observe({ type: 'longtask', buffered: true });</script>
</head><body><h1>Bench shop</h1>${'<p>Lorem ipsum dolor sit amet, <a href="/x">a link</a>.</p>'.repeat(40)}
<form id="f"><input name="q"></form><section data-cairn-list="home">${Array.from({ length: 24 }, (_, i) => `<div data-cairn-product="sku-${i}" style="height:120px">Product ${i}</div>`).join('')}</section>
<script type="module">
${tracker ? `import * as cairn from '/pkg/cairn.js'; window.cairn = cairn;
const t0 = performance.now();
await cairn.init({ writeKey: 'bench', hashKey: 'bench', consent: true, autocapture: true });
window.initMs = performance.now() - t0;` : 'window.initMs = 0;'}
window.ready = performance.now();
</script></body></html>`;

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/v1/batch') { req.resume(); res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{}'); }
  if (url.pathname === '/with.html' || url.pathname === '/without.html') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(page(url.pathname === '/with.html'));
  }
  if (url.pathname.startsWith('/pkg/')) {
    const file = normalize(join(pkg, url.pathname.slice(5)));
    if (file.startsWith(pkg)) {
      try {
        const body = await readFile(file);
        res.writeHead(200, { 'content-type': TYPES[file.slice(file.lastIndexOf('.'))] || 'application/octet-stream' });
        return res.end(body);
      } catch (e) { /* 404 below */ }
    }
  }
  res.writeHead(404);
  res.end();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});

async function load(path) {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  const t0 = Date.now();
  await p.goto(base + path);
  await p.waitForFunction(() => window.ready);
  // Three quiet seconds after init: autocapture's observers and timers run meanwhile.
  await p.waitForTimeout(3000);
  const r = await p.evaluate(() => ({ initMs: window.initMs, longtasks: window.longtasks, ready: Math.round(window.ready) }));
  return { ctx, p, r, ms: Date.now() - t0 };
}

const without = await load('/without.html');
await without.ctx.close();
const withT = await load('/with.html');
const runs = await withT.p.evaluate(() => {
  for (let i = 0; i < 200; i++) cairn.track('warm_up', { i });
  const out = [];
  for (let run = 0; run < 7; run++) {
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) cairn.track('bench_event', { i, sku: 'sku-' + (i % 50), price: 9.5, tags: ['a', 'b'] });
    out.push(((performance.now() - t0) * 1000) / 1000);
  }
  return out;
});
await withT.ctx.close();
await browser.close();
server.close();

const sorted = [...runs].sort((a, b) => a - b);
const fmt = (t) => (t.length ? t.map((x) => `${x.ms} ms at ${x.start} ms${x.src ? ' (' + x.src + ')' : ''}`).join('; ') : 'none');
const mean = runs.reduce((a, b) => a + b, 0) / runs.length;
console.log(`track(): ${sorted[3].toFixed(2)} µs per call (median of 7 runs of 1,000; min ${sorted[0].toFixed(2)}, max ${sorted[6].toFixed(2)}, mean ${mean.toFixed(2)}: the store's write of the queued events falls in one run; budget 20 µs)`);
console.log(`page load with autocapture: init() ${withT.r.initMs.toFixed(1)} ms, ready at ${withT.r.ready} ms; long tasks: ${fmt(withT.r.longtasks)}`);
console.log(`same page without the tracker: ready at ${without.r.ready} ms; long tasks: ${fmt(without.r.longtasks)}`);

// Browser tests of the Cairn web tracker: Debian's headless Chromium, driven with
// playwright-core (never a downloaded browser), against the real collector binary.
// Started by wasm/tests/browser.rs, which runs two collectors and passes:
//   CAIRN_A       collector serving the test page at /demo/ (also the endpoint)
//   CAIRN_B       a second collector (endpoint only) that the Rust side can kill -9 and
//                 restart on the same port: this script prints "cmd:kill9" / "cmd:restart"
//                 and waits for "ok" on stdin
//   CAIRN_READ_KEY, CAIRN_WRITE_KEY, CHROMIUM (default /usr/bin/chromium)
// Exits non-zero on the first failed check; prints one line per case with its timing.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { strict as assert } from 'node:assert';
import { samples } from './samples.mjs';
import { autoCases } from './auto.mjs';

const A = process.env.CAIRN_A, B = process.env.CAIRN_B;
const READ = process.env.CAIRN_READ_KEY, WRITE = process.env.CAIRN_WRITE_KEY;
const only = process.env.CAIRN_CASE;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function command(c) {
  console.log(`cmd:${c}`);
  const { value } = await lines.next();
  assert.equal(value, 'ok', `collector command ${c}`);
}
// The identities' hash key of these tests (the tracker hashes by default).
const HASH_KEY = 'browser-test-hash-key';

// The SDK's consent record (one per consent choice): kept apart from the app's events.
const RECORD = 'consent_changed';
async function feed(url, records = false) {
  const r = await fetch(`${url}/v1/feed?after=0&limit=10000`, { headers: { Authorization: `Bearer ${READ}` } });
  assert.equal(r.status, 200, 'feed');
  return (await r.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((r) => r.kind === 'event' && (r.value.event === RECORD) === records).map((r) => r.value);
}
async function duplicates(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(/^cairn_events_duplicate_total (\d+)/m);
  assert.ok(m, `no cairn_events_duplicate_total in ${url}/metrics`);
  return +m[1];
}
// Polls the feed until `n` events of this anonymousId are in it (calling `each`,
// if given, before every poll).
async function waitFor(url, anon, n, timeoutMs, pred = () => true, each = null) {
  const t0 = now();
  for (;;) {
    if (each) await each();
    const evs = (await feed(url)).filter((e) => e.anonymousId === anon && pred(e));
    if (evs.length >= n) return { evs, ms: Math.round(now() - t0) };
    if (now() - t0 > timeoutMs) throw new Error(`only ${evs.length}/${n} events in the feed after ${timeoutMs} ms: ${JSON.stringify(evs.map((e) => e.event || e.name))}`);
    await sleep(25);
  }
}
const noDuplicates = (evs) => {
  const ids = evs.map((e) => e.messageId);
  assert.equal(new Set(ids).size, ids.length, 'a messageId appears twice in the feed');
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// A fresh profile (storage, locks) per case; every request to /v1/ is recorded.
async function context() {
  const ctx = await browser.newContext();
  const sent = [];
  ctx.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/v1/')) sent.push(r); });
  ctx.on('weberror', (e) => console.error('page error:', e.error().message));
  return { ctx, sent };
}
async function open(ctx, opts, path = '/demo/test.html') {
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() !== 'log' && !m.text().includes('404')) console.error('console:', m.text()); });
  await page.goto(A + path);
  await page.waitForFunction(() => window.loaded);
  if (opts) await page.evaluate((o) => cairn.init(o), { writeKey: WRITE, endpoint: A, hashKey: HASH_KEY, ...opts });
  return page;
}
const anonOf = (page) => page.evaluate(() => cairn.anonymousId());

const cases = {
  async 'consent not given: no request, nothing stored'() {
    const { ctx, sent } = await context();
    const page = await open(ctx, {});
    const r = await page.evaluate(async () => {
      const queued = [cairn.track('viewed_without_consent', { a: 1 }), cairn.page(), cairn.addToCart('sku-1', 1)];
      await cairn.flush();
      cairn.identify('user-1', { email: 'a@b.c' });
      dispatchEvent(new Event('pagehide'));
      return queued;
    });
    assert.deepEqual(r, [false, false, false], 'track() reports no consent');
    await page.locator('#buy').click();
    await sleep(1500);
    const anon = await anonOf(page);
    const st = await page.evaluate(() => stored());
    await page.reload();
    await page.waitForFunction(() => window.loaded);
    await page.evaluate(() => new Promise((r) => setTimeout(r, 200)));
    assert.equal(sent.length, 0, `requests to the collector: ${sent.map((s) => s.url())}`);
    assert.deepEqual(st.dbs, [], 'no IndexedDB database');
    assert.equal(st.localStorage, 0, 'nothing in localStorage');
    assert.equal((await feed(A)).filter((e) => e.anonymousId === anon).length, 0);
    await ctx.close();
    return `0 requests, 0 databases, 0 localStorage keys after 1.5 s`;
  },

  async 'consent given: events and page views in the feed within 1 s of flush'() {
    const { ctx } = await context();
    const page = await open(ctx, { consent: { analytics: true } });
    const anon = await anonOf(page);
    const t = await page.evaluate(async () => {
      cairn.track('signup_started', { plan: 'pro', seats: 3 });
      cairn.productViewed('sku-42', { price: 19.9 });
      cairn.page('Pricing', { section: 'top' });
      const t0 = performance.now();
      await cairn.flush();
      return { flushMs: performance.now() - t0, at: Date.now() };
    });
    const { evs, ms } = await waitFor(A, anon, 4, 1000);
    const names = evs.map((e) => e.event || e.name).sort();
    assert.deepEqual(names, ['/demo/test.html', 'Pricing', 'product_viewed', 'signup_started']);
    const sp = evs.find((e) => e.event === 'signup_started');
    assert.deepEqual(sp.properties, { plan: 'pro', seats: 3 });
    assert.equal(sp.context.library.name, 'cairn-web');
    assert.equal(evs.find((e) => e.event === 'product_viewed').properties.product_id, 'sku-42');
    const pv = evs.find((e) => e.name === '/demo/test.html');
    assert.equal(pv.type, 'page');
    assert.equal(pv.properties.path, '/demo/test.html');
    assert.ok(sp.context.consent.analytics && sp.context.sessionId && sp.context.userAgent);
    await ctx.close();
    return `flush() resolved in ${t.flushMs.toFixed(0)} ms; all 4 in the feed ${ms} ms after it`;
  },

  async 'consent revoked: stored queue empty at once, nothing but the consent record sent'() {
    const { ctx, sent } = await context();
    const page = await open(ctx, { consent: true, flushInterval: 60000, autoPageViews: false });
    const anon = await anonOf(page);
    const before = await page.evaluate(async () => {
      for (let i = 0; i < 5; i++) cairn.track('queued_then_revoked', { i });
      await new Promise((r) => setTimeout(r, 400)); // the 200 ms write-behind
      return (await stored()).events;
    });
    assert.equal(before, 5, 'five events stored before revoking');
    const n0 = sent.length;
    const r = await page.evaluate(async () => {
      const t0 = performance.now();
      cairn.setConsent(false);
      const after = (await stored()).events;
      const ms = performance.now() - t0;
      const queued = cairn.track('after_revoke');
      await cairn.flush();
      dispatchEvent(new Event('pagehide'));
      return { after, ms, queued, left: cairn.queued() };
    });
    assert.equal(r.after, 0, 'stored queue empty right after setConsent(false)');
    assert.equal(r.queued, false);
    assert.equal(r.left, 0);
    await sleep(1500);
    // What is sent after the revocation is consent records (small, so never gzipped), nothing else.
    const after = sent.slice(n0).flatMap((q) => JSON.parse(q.postData()).batch);
    assert.ok(after.length > 0 && after.every((e) => e.event === RECORD), `sent after revocation: ${JSON.stringify(after)}`);
    assert.equal((await feed(A)).filter((e) => e.anonymousId === anon).length, 0);
    const recs = (await feed(A, true)).filter((e) => e.anonymousId === anon);
    assert.deepEqual(recs.at(-1).properties, { analytics: false, personalization: false, marketing: false });
    await ctx.close();
    return `5 stored -> 0 stored ${r.ms.toFixed(1)} ms after setConsent(false); then only the revocation's record sent`;
  },

  async 'collector down, page reloaded, collector back: each event once'() {
    const { ctx } = await context();
    const opts = { endpoint: B, consent: true, autoPageViews: false, backoffBase: 200 };
    let page = await open(ctx, opts);
    const anon = await anonOf(page);
    // The consent record of init's choice is delivered first: no upload is in flight
    // at the kill (one would be resent, and dedup'd, after the restart).
    await page.evaluate(() => cairn.flush());
    await command('kill9');
    const failed = await page.evaluate(async () => {
      for (let i = 0; i < 3; i++) cairn.track('offline_event', { i });
      try { await cairn.flush(); return false; } catch (e) { return e instanceof Error && e.message; }
    });
    assert.ok(failed, 'flush() rejects with an Error while the collector is down');
    await page.reload();
    await page.waitForFunction(() => window.loaded);
    await page.evaluate((o) => cairn.init(o), { writeKey: WRITE, hashKey: HASH_KEY, ...opts });
    // init() awaits the adoption of the closed namespace.
    const queued = await page.evaluate(() => cairn.queued());
    assert.equal(queued, 3, 'the reloaded page adopted the 3 stored events');
    assert.equal(await anonOf(page), anon, 'same anonymousId after reload');
    const t0 = now();
    await command('restart');
    await page.evaluate(() => cairn.flush().catch(() => {}));
    const { evs } = await waitFor(B, anon, 3, 15000);
    const ms = Math.round(now() - t0);
    await sleep(1000);
    const all = (await feed(B)).filter((e) => e.anonymousId === anon);
    assert.equal(all.length, 3, 'each event once');
    noDuplicates(all);
    assert.deepEqual(all.map((e) => e.properties.i).sort(), [0, 1, 2]);
    assert.equal(await duplicates(B), 0, 'the collector saw no resent messageId');
    assert.equal((await page.evaluate(() => stored())).events, 0, 'queue empty after delivery');
    await ctx.close();
    return `flush rejected with "${failed}"; 3 events adopted after reload; delivered ${ms} ms after restart, once each (0 duplicates)`;
  },

  async 'storage throws once: the tracker keeps working from memory'() {
    const { ctx } = await context();
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error('console:', m.text()); });
    await page.goto(A + '/demo/test.html');
    await page.waitForFunction(() => window.loaded);
    // The database exists (an earlier visit), so writes go straight to it; the first
    // write transaction fails as after "clear site data" (connection closed).
    await page.evaluate(async () => {
      await new Promise((ok) => {
        const r = indexedDB.open('cairn', 1);
        r.onupgradeneeded = () => r.result.createObjectStore('s');
        r.onsuccess = () => { r.result.close(); ok(); };
      });
      const tx = IDBDatabase.prototype.transaction;
      let n = 1;
      IDBDatabase.prototype.transaction = function (s, m) {
        if (m === 'readwrite' && n-- > 0) throw new DOMException('The database connection is closing.', 'InvalidStateError');
        return tx.apply(this, arguments);
      };
    });
    await page.evaluate((o) => cairn.init(o), { writeKey: WRITE, endpoint: A, hashKey: HASH_KEY, consent: true, autoPageViews: false });
    const anon = await anonOf(page);
    const r = await page.evaluate(async () => {
      const out = [cairn.track('after_store_error', { i: 0 })];
      await new Promise((r) => setTimeout(r, 300)); // the write-behind that throws
      out.push(cairn.track('after_store_error', { i: 1 }), cairn.queued());
      await cairn.flush();
      out.push(cairn.queued());
      return out;
    });
    assert.deepEqual(r, [true, true, 2, 0], 'track/queued/flush keep working');
    const { evs } = await waitFor(A, anon, 2, 2000);
    assert.deepEqual(evs.map((e) => e.properties.i).sort(), [0, 1]);
    await ctx.close();
    return 'a throwing IndexedDB write: both events tracked and delivered';
  },

  async 'tab hidden while the collector sheds (503): events stay queued, arrive later once'() {
    const { ctx, sent } = await context();
    const opts = { consent: true, autoPageViews: false, flushInterval: 60000 };
    let answered = 0;
    await ctx.route(`${A}/v1/**`, (r) => { answered++; r.fulfill({ status: 503, headers: { 'Retry-After': '120' }, body: '' }); });
    let page = await open(ctx, opts);
    const anon = await anonOf(page);
    await page.evaluate(() => {
      for (let i = 0; i < 3; i++) cairn.track('hidden_503', { i });
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    const t0 = now();
    while (!answered && now() - t0 < 3000) await sleep(25);
    assert.equal(answered, 1, 'one upload answered 503');
    await sleep(200);
    const r = await page.evaluate(async () => {
      const t0 = performance.now();
      const err = await cairn.flush().then(() => null, (e) => e instanceof Error && e.message);
      return { queued: cairn.queued(), err, ms: performance.now() - t0 };
    });
    assert.equal(r.queued, 4, 'the 503 kept the 3 events and the consent record queued');
    assert.ok(r.err && r.ms < 200, `flush() rejects at once while backing off: ${JSON.stringify(r)}`);
    // The collector recovers; the page is reloaded (no beacon while backing off)
    // and the next page delivers the queue.
    await ctx.unroute(`${A}/v1/**`);
    const before = sent.length;
    await page.reload();
    await page.waitForFunction(() => window.loaded);
    await page.evaluate((o) => cairn.init(o), { writeKey: WRITE, endpoint: A, hashKey: HASH_KEY, ...opts });
    const { ms } = await waitFor(A, anon, 3, 5000);
    await sleep(1000);
    const all = (await feed(A)).filter((e) => e.anonymousId === anon);
    assert.equal(all.length, 3, 'each event once');
    noDuplicates(all);
    assert.equal(sent.slice(before).filter((s) => s.method() === 'POST').length >= 1, true);
    await ctx.close();
    return `503 while hidden: 3 events and the consent record still queued; flush() rejected in ${r.ms.toFixed(0)} ms ("${r.err}"); delivered once ${ms} ms after the reload`;
  },

  async 'consent revoked: a closed tab\'s stored queue is deleted at once'() {
    const { ctx } = await context();
    const opts = { consent: true, autoPageViews: false };
    const p2 = await open(ctx, opts);
    await sleep(1700); // past p2's first scheduled adoption
    // p1 cannot reach its collector: on close, its queue stays stored (no beacon).
    const p1 = await open(ctx, { ...opts, endpoint: 'http://127.0.0.1:9' });
    const n = await p1.evaluate(async () => {
      for (let i = 0; i < 3; i++) cairn.track('closed_tab_event', { i });
      await cairn.flush().catch(() => {});
      return (await stored()).events;
    });
    assert.equal(n, 3, 'three events stored by the first tab');
    await p1.close();
    assert.equal((await p2.evaluate(() => stored())).events, 3, "the closed tab's events are still stored");
    const left = await p2.evaluate(async () => {
      cairn.setConsent(false);
      for (let i = 0; i < 40; i++) {
        if (!(await stored()).events) return 0;
        await new Promise((r) => setTimeout(r, 25));
      }
      return (await stored()).events;
    });
    assert.equal(left, 0, "the closed tab's events deleted after setConsent(false)");
    await ctx.close();
    return "3 events of a closed tab deleted within 1 s of setConsent(false)";
  },

  async 'tab closed right after track: the beacon delivers it'() {
    const { ctx } = await context();
    const page = await open(ctx, { consent: true, autoPageViews: false });
    const anon = await anonOf(page);
    // The close comes with init's consent record still being uploaded: that upload
    // is abandoned into the beacon with the event (the collector keeps one copy).
    await page.evaluate(() => { cairn.flush(); cairn.track('closing_tab', { last: true }); });
    const t0 = now();
    await page.close();
    const { evs, ms } = await waitFor(A, anon, 1, 5000);
    assert.equal(evs[0].event, 'closing_tab');
    assert.deepEqual(evs[0].properties, { last: true });
    await ctx.close();
    return `delivered ${ms} ms after page.close() (close took ${Math.round(now() - t0 - ms)} ms)`;
  },

  async 'two tabs tracking at once: no duplicate in the feed'() {
    const { ctx } = await context();
    const opts = { consent: true, autoPageViews: false, flushAt: 5, flushInterval: 300 };
    // The first tab stores the identity (consent given), the second reads it.
    const p1 = await open(ctx, opts);
    await p1.evaluate(() => new Promise((r) => setTimeout(r, 300)));
    const p2 = await open(ctx, opts);
    const anon = await anonOf(p1);
    assert.equal(await anonOf(p2), anon, 'both tabs share the stored identity');
    const dup0 = await duplicates(A);
    const t0 = now();
    const burst = (p, tab) => p.evaluate(async (tab) => {
      for (let i = 0; i < 40; i++) {
        cairn.track('two_tabs', { tab, i });
        if (i % 7 === 0) await new Promise((r) => setTimeout(r, 10));
      }
      await cairn.flush();
    }, tab);
    await Promise.all([burst(p1, 1), burst(p2, 2)]);
    // A third tab opens while both are busy, and the second closes (beacon + adoption).
    const p3 = await open(ctx, opts);
    await p2.close();
    await p3.evaluate(() => { cairn.track('two_tabs', { tab: 3, i: 0 }); return cairn.flush(); });
    const { ms } = await waitFor(A, anon, 81, 5000);
    await sleep(2000);
    const all = (await feed(A)).filter((e) => e.anonymousId === anon);
    noDuplicates(all);
    assert.equal(all.length, 81);
    const seen = new Set(all.map((e) => `${e.properties.tab}/${e.properties.i}`));
    assert.equal(seen.size, 81, 'every (tab, i) once');
    assert.equal(await duplicates(A) - dup0, 0, 'no messageId was sent twice');
    await ctx.close();
    return `81 events from 3 tabs in the feed ${Math.round(now() - t0)} ms after the start, 0 duplicates sent`;
  },

  async 'SPA navigation: one page view per route'() {
    const { ctx } = await context();
    const page = await open(ctx, { consent: true });
    const anon = await anonOf(page);
    await page.evaluate(async () => {
      history.pushState({}, '', '/demo/shop/a?x=1');
      history.replaceState({ y: 1 }, '', '/demo/shop/a?x=1'); // same route
      history.pushState({}, '', '/demo/shop/a?x=1#details'); // same route, new hash
      history.pushState({}, '', '/demo/shop/b');
      await new Promise((r) => { addEventListener('popstate', r, { once: true }); history.back(); });
      history.replaceState({}, '', '/demo/shop/c');
      await cairn.flush();
    });
    const { evs, ms } = await waitFor(A, anon, 5, 2000, (e) => e.type === 'page');
    await sleep(500);
    const pages = (await feed(A)).filter((e) => e.anonymousId === anon && e.type === 'page');
    const routes = pages.map((e) => e.properties.path);
    assert.deepEqual(routes, ['/demo/test.html', '/demo/shop/a', '/demo/shop/b', '/demo/shop/a', '/demo/shop/c']);
    assert.equal(pages[1].properties.search, '?x=1');
    assert.equal(pages[2].properties.referrer, `${A}/demo/shop/a?x=1`);
    // Switched off: no more page views.
    await page.evaluate(async () => {
      cairn.setAutoPageViews(false);
      history.pushState({}, '', '/demo/shop/d');
      await cairn.flush();
    });
    await sleep(500);
    assert.equal((await feed(A)).filter((e) => e.anonymousId === anon && e.type === 'page').length, 5);
    await ctx.close();
    return `5 routes -> 5 page views (${ms} ms to the feed); none with autoPageViews off`;
  },

  async 'data-attribute clicks arrive with their properties'() {
    const { ctx } = await context();
    const page = await open(ctx, { consent: true, autoPageViews: false });
    const anon = await anonOf(page);
    await page.locator('#buy-label').click();
    await page.locator('#plain').click();
    const t0 = now();
    await page.evaluate(() => cairn.flush());
    const { evs, ms } = await waitFor(A, anon, 1, 2000);
    await sleep(300);
    const all = (await feed(A)).filter((e) => e.anonymousId === anon);
    assert.equal(all.length, 1, 'only the marked element is tracked');
    assert.equal(evs[0].event, 'add_to_cart');
    assert.deepEqual(evs[0].properties, { product_id: 'sku-7', price: 9.5, quantity: 2, gift: true, code: '007' });
    await ctx.close();
    return `add_to_cart {product_id, price, quantity, gift} in the feed ${Math.round(now() - t0)} ms after flush`;
  },

  // The wasm lower-cases non-ASCII e-mails with the browser's toLowerCase (not Rust's
  // case tables). With a hashKey the SDK sends HMAC(lower-cased e-mail), which the
  // collector re-hashes as is: two identifies agree in the feed iff the SDK lower-cased
  // the first to exactly the second, the text str::to_lowercase gives (sdk identity tests).
  async 'identify: e-mails lower-cased as str::to_lowercase does'() {
    const { ctx } = await context();
    const page = await open(ctx, { consent: { analytics: true }, autoPageViews: false, hashKey: 'hk' });
    const anon = await anonOf(page);
    const emails = [' ÅSA.Σ@Exämple.COM ', 'åsa.ς@exämple.com', 'åsa.σ@exämple.com', ' Plain@Example.COM', 'plain@example.com'];
    await page.evaluate(async (emails) => {
      for (const [i, email] of emails.entries()) cairn.identify('user-1', { email, i });
      await cairn.flush();
    }, emails);
    const { evs } = await waitFor(A, anon, emails.length, 2000, (e) => e.type === 'identify');
    const h = [];
    for (const e of evs) h[e.traits.i] = e.traits.email;
    assert.equal(h[0], h[1], 'non-ASCII e-mail lower-cased with final sigma');
    assert.notEqual(h[1], h[2], 'σ and ς hash differently');
    assert.equal(h[3], h[4], 'ASCII e-mail lower-cased');
    await ctx.close();
    return `${JSON.stringify(emails[0])} hashed as ${JSON.stringify(emails[1])}`;
  },

  async 'errors are Error objects with a message'() {
    const { ctx } = await context();
    const page = await open(ctx, null);
    const r = await page.evaluate(async () => {
      const out = [];
      const grab = async (f) => { try { await f(); out.push(null); } catch (e) { out.push([e instanceof Error, e.message]); } };
      await grab(() => cairn.track('early'));
      await grab(() => cairn.init({}));
      // A failed start (bad option) must not keep the tab's Web Lock: the retry resolves.
      await grab(() => cairn.init({ writeKey: 'k', consent: 3, hashKey: 'hk' }));
      // Identities are hashed by default: no hashKey (and no hashIdentities: false) fails.
      await grab(() => cairn.init({ writeKey: 'k', consent: true }));
      await Promise.race([cairn.init({ writeKey: 'k', consent: true, autoPageViews: false, hashKey: 'hk' }),
        new Promise((_, no) => setTimeout(() => no(new Error('init() retry hangs')), 3000))]);
      await grab(() => cairn.track(''));
      await grab(() => cairn.track('x', [1, 2]));
      await grab(() => cairn.track('x', {}, { purpose: 'sales' }));
      await grab(() => cairn.setConsent(3));
      return out;
    });
    for (const e of r) assert.ok(e && e[0] && e[1].length > 5, JSON.stringify(r));
    assert.match(r[3][1], /hashKey is required/, 'init without a hashKey');
    await ctx.close();
    return r.map((e) => e[1]).join(' | ');
  },
};

cases['every generated helper round-trips: feed checked against the JSON Schemas'] = async () => {
  const { ctx } = await context();
  const page = await open(ctx, { consent: true, autoPageViews: false, trackClicks: false });
  const anon = await anonOf(page);
  const queued = await page.evaluate(async (s) => {
    const out = s.map(([helper, args, props]) => cairn[helper](...args, props));
    await cairn.flush();
    return out;
  }, samples);
  assert.deepEqual(queued, samples.map(() => true), 'every helper queued its event');
  const names = new Set(samples.map((x) => x[3]));
  const name = (e) => (e.type === 'page' ? 'page_view' : e.type === 'screen' ? 'screen_view' : e.event);
  await waitFor(A, anon, samples.length, 5000, (e) => names.has(name(e)));
  // The Rust side reads this anonymousId's events from the feed and checks them.
  console.log(`cmd:roundtrip ${anon}`);
  const { value } = await lines.next();
  assert.equal(value, 'ok', 'round trip');
  await ctx.close();
  return `${samples.length} helpers, each event in the feed valid against its schema`;
};

cases['generated helpers clamp numbers into the table\'s ranges'] = async () => {
  const { ctx } = await context();
  const page = await open(ctx, { consent: true, autoPageViews: false, trackClicks: false });
  const anon = await anonOf(page);
  await page.evaluate(async () => {
    cairn.scrollDepth(140.7);
    cairn.addToCart('sku-c', 0);
    cairn.rating('sku-c', -3);
    cairn.quickExit(12.9);
    await cairn.flush();
  });
  const { evs } = await waitFor(A, anon, 4, 5000);
  const got = Object.fromEntries(evs.map((e) => [e.event, e.properties]));
  assert.equal(got.scroll_depth.percent, 100, 'percent at most 100');
  assert.equal(got.add_to_cart.quantity, 1, 'quantity at least 1');
  assert.equal(got.rating.rating, 0, 'rating at least 0');
  assert.equal(got.quick_exit.dwell_ms, 12, 'whole milliseconds');
  await ctx.close();
  return 'percent 140.7 -> 100, quantity 0 -> 1, rating -3 -> 0, dwell 12.9 -> 12 ms';
};

Object.assign(cases, autoCases({ A, context, open, feed, waitFor, anonOf, sleep }));

let failed = 0, ran = 0;
for (const [name, run] of Object.entries(cases)) {
  if (only && !name.includes(only)) continue;
  ran++;
  const t0 = now();
  try {
    const detail = await run();
    console.error(`PASS ${name} (${Math.round(now() - t0)} ms): ${detail}`);
  } catch (e) {
    failed++;
    console.error(`FAIL ${name} (${Math.round(now() - t0)} ms): ${e.stack || e}`);
  }
}
await browser.close();
if (!ran) console.error(`FAIL no case matches CAIRN_CASE=${JSON.stringify(only)}`);
process.exit(failed || !ran ? 1 : 0);

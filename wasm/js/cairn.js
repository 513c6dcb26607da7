// Cairn web tracker: the public API. The Rust core (cairn_wasm_bg.wasm, via wasm.js) owns
// consent, identity, sessions, batching, the queue and retries; this module gives it
// the browser: IndexedDB (or localStorage) behind its synchronous store, one queue
// namespace per tab guarded by a Web Lock, fetch/sendBeacon, timers and listeners.
import * as w from './wasm.js';
import * as auto from './auto.js';

// Stored names: the IndexedDB database and its object store, the localStorage key
// prefix (auto.js's campaign key starts with it), the prefix of each tab's lock.
const DB = 'cairn', OS = 's', LS = 'cairn:', LOCK = 'cairn-tab-';
// This page's queue namespace; a closed tab's namespace is adopted by the next page.
const tab = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
let ready, on, backend, q, ops = [], waiters = [], timer, due, chan, release;
let views, clicks, lastUrl, registered, big, shown;

// Consent as the wasm takes it: a bit set in the core's purpose order.
const PURPOSES = ['analytics', 'personalization', 'marketing'];
const bits = (c) => {
  if (c === !!c) return c ? 7 : 0;
  if (!c || typeof c !== 'object') throw new Error('consent must be true, false or {analytics, personalization, marketing}');
  return PURPOSES.reduce((b, p, i) => b | (c[p] === true) << i, 0);
};
const J = (v) => (v === undefined || v === null ? '' : JSON.stringify(v));
const guard = (f) => {
  if (!on) throw new Error('cairn is not initialised: await init({ writeKey }) first');
  return f();
};
const safe = (f) => { try { return f(); } catch (e) { console.warn('cairn:', e); } };
const req = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
const MEM = { get: async () => [], write() {} };

// --- Storage: get(prefix) -> [[key, bytes]], write([[key, bytes or none: delete]]) ----------
const idb = (db) => {
  return {
    async get(p) {
      const s = db.transaction(OS).objectStore(OS), r = IDBKeyRange.bound(p, p + '\uffff');
      const [k, v] = await Promise.all([req(s.getAllKeys(r)), req(s.getAll(r))]);
      return k.map((x, i) => [x, v[i]]);
    },
    write(o) {
      const tx = db.transaction(OS, 'readwrite'), s = tx.objectStore(OS);
      for (const [k, v] of o) v ? s.put(v, k) : s.delete(k);
      // Committed now: a pagehide's deletes (after its beacon) land before the page goes.
      tx.commit?.();
      return new Promise((ok) => { tx.oncomplete = tx.onerror = tx.onabort = ok; });
    },
  };
};
const enc = (b) => { let s = ''; for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192)); return s; };
const ls = {
  async get(p) {
    return Object.keys(localStorage).filter((k) => k.startsWith(LS + p))
      .map((k) => [k.slice(LS.length), Uint8Array.from(localStorage.getItem(k), (c) => c.charCodeAt(0))]);
  },
  write(o) { for (const [k, v] of o) v ? localStorage.setItem(LS + k, enc(v)) : localStorage.removeItem(LS + k); },
};
// Opens the store; without `create`, only if this site stored something before
// (so a visitor who never consented leaves no database behind). Sets `big` when
// IndexedDB is usable (the queue's byte cap follows the backend).
const open = async (create) => {
  big = 0;
  try {
    if (self.indexedDB) {
      const have = !indexedDB.databases || (await indexedDB.databases()).some((d) => d.name === DB);
      big = 1;
      if (!create && !have) return null;
      const r = indexedDB.open(DB, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(OS);
      return idb(await req(r));
    }
  } catch (e) { big = 0; /* private mode and the like: localStorage */ }
  try {
    if (!create && !Object.keys(localStorage).some((k) => k.startsWith(LS))) return null;
    return ls;
  } catch (e) { return create ? MEM : null; }
};
const write = (o) => {
  try { backend.write(o); } catch (e) { console.warn('cairn: storage failed, keeping the queue in memory', e); backend = MEM; }
};
const stamp = (b) => { let t = 0; for (let i = 1; i < 9; i++) t = t * 256 + b[i]; return t; };
const mine = (k) => (k.startsWith('e:') ? 'e:' + tab + k.slice(1) : k);

// Moves the queues of closed tabs (no lock held) into this tab's, in one write,
// under a lock so that two new tabs never adopt the same events.
const adopt = async () => {
  if (!backend) return;
  const run = async () => {
    const held = navigator.locks && new Set((await navigator.locks.query()).held.map((l) => l.name));
    const o = [];
    const evs = [];
    for (const [k] of await backend.get('t:')) {
      const t = k.slice(2);
      if (t === tab || held?.has(LOCK + t)) continue;
      o.push([k]);
      for (const [ek, v] of await backend.get('e:' + t + ':')) {
        o.push([ek]);
        evs.push([+ek.split(':')[3], v]);
      }
    }
    evs.sort((a, b) => stamp(a[1]) - stamp(b[1]));
    // An empty key: the purpose is not consented (any more), so only the delete.
    for (const [p, v] of evs) { const k = w.stored(p, '', v); if (k) o.push([mine(k), v]); }
    if (o.length) await backend.write(o);
    return evs.length;
  };
  const n = await (navigator.locks ? navigator.locks.request('cairn-adopt', run) : run());
  if (n && on) safe(() => w.ctl(0));
};
const readopt = () => adopt().catch(() => {});

// --- What the core calls (through wasm.js) ---------------------------------------
Object.assign(w.h, {
  send(id, url, headers, body) {
    body = body.slice();
    const h = {}, hs = headers.split('\n');
    for (let i = 0; i + 1 < hs.length; i += 2) h[hs[i]] = hs[i + 1];
    (async () => {
      let b = body, st = 0, ra = -1;
      if (self.CompressionStream && b.length > 1024) {
        try {
          b = new Uint8Array(await new Response(new Blob([b]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
          h['Content-Encoding'] = 'gzip';
        } catch (e) { b = body; }
      }
      try {
        const r = await fetch(url, { method: 'POST', headers: h, body: b, keepalive: true, credentials: 'omit' });
        st = r.status;
        const v = r.headers.get('Retry-After');
        if (v) ra = isNaN(v) ? (Date.parse(v) - Date.now()) / 1000 : +v;
      } catch (e) { console.debug('cairn: upload', e); }
      safe(() => w.ctl(6, id, st, ra >= 0 ? Math.min(ra, 3600) : -1)); // done (see src/lib.rs)
    })();
  },
  beacon(url, body) {
    try { return navigator.sendBeacon(url, body); } catch (e) { return false; }
  },
  // The core asks after every call; a timer already due no later is kept and a cancel
  // is not needed (an early or extra pump is harmless: the core re-arms), so most calls
  // set no timer.
  wake(ms) {
    const at = Date.now() + ms; // not performance.now(): Date.now() costs a tenth
    if (ms < 0 || (timer && due <= at)) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(() => { timer = 0; safe(() => w.ctl(0)); }, ms);
  },
  put(k, v) { ops.push([mine(k), v]); },
  // Never throws into the wasm (that would leave its state borrowed for good): a
  // store that fails (connection closed, quota) is replaced by memory.
  commit() {
    const o = ops;
    ops = [];
    if (!registered) { o.push(['t:' + tab, new Uint8Array(1)]); registered = 1; }
    if (backend) return void write(o);
    if (!q) {
      q = [];
      open(true).then((b) => { backend = b || MEM; for (const x of q) write(x); q = null; });
    }
    q.push(o);
  },
  settled(oldest, err) {
    waiters = waiters.filter((x) => {
      if (oldest < 0 || oldest > x.s) x.ok();
      else if (err) x.no(new Error(err));
      else return true;
    });
  },
});

// --- Automatic page views and data-attribute clicks ----------------------------
// A single-page app showed another URL: the last one was left, this one viewed.
const moved = () => {
  auto.reread();
  const u = auto.here();
  if (shown && u !== shown) safe(auto.leave);
  shown = u;
  autoPageView();
};
const autoPageView = () => {
  const u = auto.here();
  if (!views || u === lastUrl) return;
  const referrer = lastUrl || document.referrer;
  lastUrl = u;
  safe(() => page(location.pathname, { referrer }));
};
// Numbers only when they read back the same ("007", "0x1F", " ", long SKUs stay text).
const attr = (v) => (v === 'true' ? true : v === 'false' ? false : String(+v) === v ? +v : v);
const onClick = (e) => {
  const el = clicks && e.target.closest?.('[data-cairn-event]');
  if (!el) return;
  const p = {};
  for (const a of el.attributes) {
    if (a.name.startsWith('data-cairn-') && a.name !== 'data-cairn-event') p[a.name.slice(11).replace(/-/g, '_')] = attr(a.value);
  }
  safe(() => track(el.getAttribute('data-cairn-event'), p));
};
const listen = () => {
  for (const m of ['pushState', 'replaceState']) {
    const f = history[m];
    history[m] = function (...a) { const r = f.apply(this, a); moved(); return r; };
  }
  addEventListener('popstate', moved);
  document.addEventListener('click', onClick, true);
  // Hidden: a flush by fetch (its real status counts; the tab may come back). Only a
  // page really unloading sends a beacon (ctl 1), whose answer nobody sees.
  const bye = (beacon) => safe(() => w.ctl(beacon ? 1 : 3));
  document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && bye());
  // The page's last events (time, exit) are queued first, so the beacon takes them.
  addEventListener('pagehide', (e) => { safe(auto.leave); bye(!e.persisted); if (!e.persisted && release) release(); });
  if (self.BroadcastChannel) {
    chan = new BroadcastChannel('cairn');
    chan.onmessage = (e) => { safe(() => w.ctl(8 + e.data)); readopt(); };
  }
  setTimeout(readopt, 1500);
  setInterval(readopt, 30000);
};

// --- The API ---------------------------------------------------------------------
export const init = (o) => {
  return (ready ||= (async () => {
    if (!o?.writeKey) throw new Error('init: writeKey is required');
    await w.load(o.wasmUrl);
    if (navigator.locks) {
      await new Promise((ok) => navigator.locks.request(LOCK + tab, () => { ok(); return new Promise((r) => (release = r)); }));
    }
    backend = await open(false);
    if (backend) {
      for (const [k, v] of await backend.get('k:')) w.stored(-1, k, v);
      await adopt();
    }
    const s = self.screen || {};
    const opts = {
      endpoint: location.origin,
      // localStorage holds about 5 MB: keep the queue well under it there.
      maxQueueBytes: big ? undefined : 2e6,
      ...o,
    };
    const ctx = J({
      userAgent: navigator.userAgent,
      locale: navigator.language,
      // Temporal where the browser has it: a first Intl.DateTimeFormat costs 20-45 ms
      // (ICU's data loaded; Chromium 156), a third of init's long task on load.
      timezone: self.Temporal ? Temporal.Now.timeZoneId() : Intl.DateTimeFormat().resolvedOptions().timeZone,
      screen: { width: s.width, height: s.height, density: self.devicePixelRatio },
      ...(o.pageContext !== false && auto.agent()),
      ...o.context,
    });
    // The wasm parses no JSON: options go as plain arguments (see src/options.rs).
    const n = (k) => (typeof opts[k] === 'number' ? opts[k] : NaN);
    w.start(String(opts.writeKey), String(opts.endpoint), opts.hashKey || '',
      ['flushAt', 'flushInterval', 'maxQueueEvents', 'maxQueueBytes', 'backoffBase', 'sessionTimeout'].map(n),
      (opts.hashIdentities !== false) | (opts.consentMode === 'opt-out') << 1,
      opts.consent == null ? -1 : bits(opts.consent), ctx.slice(1, -1));
    on = 1;
    views = o.autoPageViews !== false;
    clicks = o.trackClicks !== false;
    await auto.start(o, { track, context: (m) => w.call(6, m, '', ''), consented: () => w.ctl(5) > 0 });
    // A task of its own for the first page view (its wasm code compiled on first use
    // and its upload): with autocapture's start in the same task, a long task on load.
    await new Promise((r) => setTimeout(r));
    listen();
    shown = auto.here();
    autoPageView();
  })().catch((e) => { ready = null; if (release) release(); throw e; }));
};

// w.call: 0 track, 1 screen, 2 page, 3 identify, 4 alias, 5 group, 6 the page
// context (see src/lib.rs), brought up to date before each event.
const call = (op, a, b = '', c = '') => guard(() => { auto.context(); return w.call(op, a, b, c); });
const purpose = (o) => o?.purpose || '';
export const track = (name, properties, options) => call(0, name, J(properties), purpose(options));

export const page = (name, properties) => {
  return call(2, name || location.pathname, J({
    ...auto.where(), referrer: document.referrer, ...properties,
  }));
};
export const identify = (userId, traits) => call(3, userId, J(traits));
export const alias = (newUserId) => call(4, newUserId);
export const group = (groupId, traits) => call(5, groupId, J(traits));
export const reset = () => { guard(() => w.ctl(2)); };
export const setConsent = (consent) => {
  const b = guard(() => bits(consent));
  w.ctl(8 + b); // ctl 8 + bits: setConsent (see src/lib.rs)
  if (chan) chan.postMessage(b);
  // Closed tabs' queues too: events of a purpose no longer consented are deleted.
  readopt();
};
export const getConsent = () => guard(() => {
  const b = w.ctl(5), c = {};
  PURPOSES.forEach((p, i) => { c[p] = !!(b & (1 << i)); });
  return c;
});
// ctl 3 answers -1 (nothing pending) or below when backing off for longer than a
// flush should wait (-2 - seconds): then it rejects at once.
export const flush = () => {
  const s = guard(() => w.ctl(3));
  return s < -1 ? Promise.reject(new Error('upload failed: backing off, next attempt in ' + (-2 - s) + ' s'))
    : s < 0 ? Promise.resolve() : new Promise((ok, no) => waiters.push({ s, ok, no }));
};
export const setAutoPageViews = (enabled) => { views = !!enabled; if (views) autoPageView(); };
export const setClickTracking = (enabled) => { clicks = !!enabled; };
export const anonymousId = () => guard(() => w.stored(-2, '', new Uint8Array()));
export const queued = () => guard(() => w.ctl(4));

// --- generated by cairn-codegen from cairn-protocol's event table: do not edit (cargo run -p cairn-codegen) ---
// Helper per app event: the required properties as arguments (numbers clamped),
// then properties and options as for track(). [key] or [key, min, max?] per argument.
const num = (v, r) => Math.max(r[1], Math.min(r[2] ?? 1 / 0, r[2] ? Math.trunc(+v || 0) : +v || 0));
const ev = (n, k, u = 'analytics') => (...a) => {
  const p = { ...a[k.length] };
  k.forEach((r, i) => { p[r[0]] = r.length > 1 ? num(a[i], r) : a[i]; });
  return track(n, p, { purpose: u, ...a[k.length + 1] });
};
export const pageView = (name, p) => page(name, p);
export const screenView = (name, p) => call(1, name, J(p));
export const rating = ev('rating', [['product_id'], ['rating', 0]]);
export const review = ev('review', [['product_id'], ['rating', 0]]);
export const like = ev('like', [['product_id']]);
export const comment = ev('comment', [['product_id']]);
export const share = ev('share', [['product_id']]);
export const surveyResponse = ev('survey_response', [['survey_id'], ['question_id']]);
export const wishlistAdd = ev('wishlist_add', [['product_id']]);
export const collectionAdd = ev('collection_add', [['product_id']]);
export const tradeOffer = ev('trade_offer', [['product_id'], ['offer_id']]);
export const addToCart = ev('add_to_cart', [['product_id'], ['quantity', 1, 2147483647]]);
export const checkoutStarted = ev('checkout_started', [['products'], ['total', 0], ['currency']]);
export const purchase = ev('purchase', [['order_id'], ['products'], ['total', 0], ['currency']]);
export const signup = ev('signup', [['method']]);
export const productViewed = ev('product_viewed', [['product_id']]);
export const productClicked = ev('product_clicked', [['product_id']]);
export const click = ev('click', [['target']]);
export const linkClick = ev('link_click', [['url'], ['link_type']]);
export const download = ev('download', [['file_name']]);
export const search = ev('search', [['query']]);
export const searchResultClick = ev('search_result_click', [['query'], ['product_id']]);
export const filterApplied = ev('filter_applied', [['filter'], ['value']]);
export const sortChanged = ev('sort_changed', [['sort']]);
export const scrollDepth = ev('scroll_depth', [['percent', 0, 100]]);
export const timeOnPage = ev('time_on_page', [['duration_ms', 0, 9007199254740991]]);
export const videoPlay = ev('video_play', [['video_id']]);
export const videoPause = ev('video_pause', [['video_id']]);
export const videoProgress = ev('video_progress', [['video_id'], ['percent', 0, 100]]);
export const videoComplete = ev('video_complete', [['video_id']]);
export const pageExit = ev('page_exit', [['engaged_ms', 0, 9007199254740991]]);
export const productImpression = ev('product_impression', [['product_ids']]);
export const formStart = ev('form_start', [['form_id']]);
export const formSubmit = ev('form_submit', [['form_id']]);
export const quickExit = ev('quick_exit', [['dwell_ms', 0, 9007199254740991]]);
export const wishlistRemove = ev('wishlist_remove', [['product_id']]);
export const removeFromCart = ev('remove_from_cart', [['product_id'], ['quantity', 1, 2147483647]]);
export const hideItem = ev('hide_item', [['product_id']]);
export const appOpened = ev('app_opened', []);
export const appBackgrounded = ev('app_backgrounded', []);
export const sessionStarted = ev('session_started', []);
export const sessionEnded = ev('session_ended', []);
export const recommendationShown = ev('recommendation_shown', [['model_version'], ['list'], ['product_ids']], 'personalization');
export const recommendationClicked = ev('recommendation_clicked', [['model_version'], ['list'], ['product_id'], ['position', 0, 2147483647]], 'personalization');
export const experimentExposure = ev('experiment_exposure', [['experiment'], ['variant']]);
// --- end of generated code ---

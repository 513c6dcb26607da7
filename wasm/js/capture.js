// Cairn web tracker: the autocapture signals (scroll depth, time on page, quick exit,
// page exit, links, downloads, forms, product impressions), each switched by init's
// `autocapture` option (true: all; or an object of the switches, all default false).
// A module of its own, loaded by auto.js only when autocapture is on, so a page
// without it does not download it. Every event goes through track(), so the core's
// consent rules apply: nothing is queued, stored or sent for a purpose not granted.
// Field values never leave.
// Links inside a data-cairn-event element (tracked by the page) and links within the
// page (#...) are not link clicks.
// Rules: one scroll_depth per milestone per page; time_on_page, quick_exit and
// page_exit when a page is left (unload, bfcache, or a single-page app's next URL),
// queued before the unload's beacon; engaged time is visible time within 10 s of
// the user's last input or scroll; a product impression is an element with
// data-cairn-product at least half visible for 1 s, once per page, sent in batches.

const ACTIVE_MS = 10000, SEEN_MS = 1000, BATCH_MS = 1000;
const DOWNLOAD = /\.(pdf|zip|rar|7z|gz|tgz|bz2|dmg|exe|msi|pkg|deb|apk|csv|xlsx?|docx?|pptx?|odt|ods|txt|rtf|epub|mp3|wav|mp4|mov|avi|webm|iso)$/i;

let auto, track, started, mark, visible, visMs, engMs, activeUntil, maxScroll, seen, pending = {}, batch, io, raf;
// First time this page: a milestone (number), a form (element) or an impression (text).
const once = (k) => !seen.has(k) && seen.add(k);

// --- Time, scroll and exit -----------------------------------------------------
const tick = () => {
  const t = performance.now();
  if (visible) { visMs += t - mark; engMs += Math.max(0, Math.min(t, activeUntil) - mark); }
  mark = t;
};
const active = () => { tick(); activeUntil = mark + ACTIVE_MS; };
// active() first: what its tick() counts is zeroed below.
const reset = () => {
  active();
  started = mark;
  visible = document.visibilityState === 'visible';
  visMs = engMs = maxScroll = 0;
  seen = new Set();
};
const scrolled = () => {
  raf = 0;
  const pct = Math.min(100, ((scrollY + innerHeight) / document.documentElement.scrollHeight) * 100);
  maxScroll = Math.max(maxScroll, Math.round(pct));
  if (!on('scroll')) return;
  for (const m of [25, 50, 75, 100]) if (pct >= m - 0.5 && once(m)) track('scroll_depth', { percent: m });
};
const onScroll = () => { active(); raf ||= requestAnimationFrame(scrolled); };

// The page is being left: its time, quick exit, exit and pending impressions,
// with its own page context. Counters start again for the next page.
export const leave = () => {
  tick();
  flushSeen();
  const t = Math.round(performance.now() - started);
  if (on('time')) track('time_on_page', { duration_ms: Math.round(visMs) });
  const quick = on('quickExit');
  if (quick && t < (typeof quick === 'number' ? quick : 10000)) track('quick_exit', { dwell_ms: t });
  if (on('pageExit')) track('page_exit', { engaged_ms: Math.round(engMs), visible_ms: Math.round(visMs), max_scroll: maxScroll });
  reset();
};

// --- Links, downloads and forms --------------------------------------------------
const onClick = (e) => {
  const a = e.target.closest?.('a[href]');
  if (!a || a.closest('[data-cairn-event]') || !/^https?:$/.test(a.protocol)) return;
  // A link within this page (href="#...") is not a link followed.
  if (a.hash && a.href.split('#')[0] === location.href.split('#')[0]) return;
  if (on('downloads') && (a.hasAttribute('download') || DOWNLOAD.test(a.pathname))) {
    track('download', { file_name: a.getAttribute('download') || decodeURIComponent(a.pathname.split('/').pop()), url: a.href });
  } else if (on('links')) {
    const text = a.textContent.trim().slice(0, 100);
    track('link_click', { url: a.href, link_type: a.origin === location.origin ? 'internal' : 'external', ...(text && { text }) });
  }
};
const formId = (f) => f.id || f.getAttribute('name') || f.getAttribute('action') || 'form-' + [...document.forms].indexOf(f);
const onInput = (e) => {
  const f = e.target.form || e.target.closest?.('form');
  if (f && on('forms') && once(f)) track('form_start', { form_id: formId(f) });
};
const onSubmit = (e) => {
  if (on('forms') && e.target instanceof HTMLFormElement) track('form_submit', { form_id: formId(e.target) });
};

// --- Product impressions -----------------------------------------------------------
const timers = new WeakMap();
const watch = (root) => {
  if (root.matches?.('[data-cairn-product]')) io.observe(root);
  for (const el of root.querySelectorAll?.('[data-cairn-product]') || []) io.observe(el);
};
// Half visible (a ratio that is 0 whenever the entry is not intersecting, per spec).
const intersect = (entries) => {
  for (const x of entries) {
    clearTimeout(timers.get(x.target));
    if (x.intersectionRatio >= 0.5) timers.set(x.target, setTimeout(() => saw(x.target), SEEN_MS));
  }
};
const saw = (el) => {
  const id = el.getAttribute('data-cairn-product'), list = el.closest('[data-cairn-list]')?.getAttribute('data-cairn-list') || '';
  if (!id || !once(list + '\n' + id)) return;
  (pending[list] ||= []).push(id);
  batch ||= setTimeout(flushSeen, BATCH_MS);
};
const flushSeen = () => {
  clearTimeout(batch);
  batch = 0;
  for (const list in pending) track('product_impression', { product_ids: pending[list], ...(list && { list }) });
  pending = {};
};

// --- Start ------------------------------------------------------------------------------
const on = (k) => auto[k] ?? auto === true;

// `autocapture`: init's option (truthy); `hooks`: { track(name, props) }.
export const start = (autocapture, hooks) => {
  auto = autocapture;
  track = hooks.track;
  reset();
  const opts = { capture: true, passive: true };
  for (const t of ['pointerdown', 'keydown', 'touchstart']) addEventListener(t, active, opts);
  addEventListener('scroll', onScroll, opts);
  document.addEventListener('visibilitychange', () => { tick(); visible = document.visibilityState === 'visible'; });
  addEventListener('pageshow', (e) => e.persisted && reset());
  document.addEventListener('click', onClick, true);
  document.addEventListener('input', onInput, true);
  document.addEventListener('change', onInput, true);
  document.addEventListener('submit', onSubmit, true);
  if (on('impressions') && self.IntersectionObserver) {
    io = new IntersectionObserver(intersect, { threshold: [0, 0.5] });
    watch(document);
    new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) watch(n); })
      .observe(document.documentElement, { childList: true, subtree: true });
  }
};

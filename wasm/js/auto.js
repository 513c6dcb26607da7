// Cairn web tracker: the page context every event carries (`pageContext`, default
// on: URL, path, referrer, title, campaign, viewport; device, OS and browser in the
// static context) and the hand-over to the autocapture signals (capture.js), which
// are loaded only when init's `autocapture` option is on (a page without them does
// not download them).

const SESSION_MS = 1800000, CAMPAIGN = 'cairn:campaign';

let pc, api, signals, campaign, ref, ctxKey, fresh, held;

// --- Page context --------------------------------------------------------------
// Device type, OS and browser family from User-Agent Client Hints where the browser
// has them, else from the user agent string: the static context, set once.
export const agent = () => {
  const d = navigator.userAgentData, ua = navigator.userAgent;
  const os = d?.platform || [['Windows', /Windows/], ['Android', /Android/], ['iOS', /iPhone|iPad|iPod/],
    ['macOS', /Mac OS X/], ['Chrome OS', /CrOS/], ['Linux', /Linux/]].find((x) => x[1].test(ua))?.[0] || 'Other';
  const brand = d?.brands && (d.brands.map((b) => b.brand).find((b) => !/Not.?A.?Brand|Chromium/i.test(b))
    || (d.brands.some((b) => b.brand === 'Chromium') && 'Chromium'));
  const browser = brand || [['Edge', /Edg\//], ['Opera', /OPR\//], ['Firefox', /Firefox\//], ['Chrome', /Chrome\/|CriOS/],
    ['Safari', /Safari\//]].find((x) => x[1].test(ua))?.[0] || 'Other';
  const type = d?.mobile ? 'mobile' : /iPad|Tablet/.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua)) ? 'tablet'
    : /Mobi|iPhone/.test(ua) ? 'mobile' : 'desktop';
  return { device: { type }, os: { name: os }, browser: { name: browser } };
};

// UTM parameters of the landing URL (utm_campaign as `name`), kept for the session:
// in memory, and in localStorage (only once a purpose is granted) until 30 min
// without a page left.
const readCampaign = () => {
  const q = new URLSearchParams(location.search), c = {};
  for (const k of ['source', 'medium', 'campaign', 'term', 'content']) if (q.get('utm_' + k)) c[k === 'campaign' ? 'name' : k] = q.get('utm_' + k);
  if (Object.keys(c).length) return (campaign = c);
  if (campaign) return;
  try {
    const s = JSON.parse(localStorage.getItem(CAMPAIGN));
    if (s && Date.now() - s.t < SESSION_MS) campaign = s.c;
  } catch (e) { /* no storage: memory only */ }
};
const keepCampaign = () => {
  try {
    if (campaign && api.consented()) localStorage.setItem(CAMPAIGN, JSON.stringify({ c: campaign, t: Date.now() }));
  } catch (e) { /* no storage */ }
};

// The page context (URL, path, referrer, title, campaign, viewport) as JSON members,
// handed to the core only when it changed; `held` (while a page is left) keeps the
// left page's context for the events that report on it. Read once per task (reading
// the page costs about a microsecond; a microtask clears `fresh`) and again after a
// history change (`reread`); a title set later in the same task shows from the next
// task.
export const context = () => {
  if (!pc || held || fresh) return;
  fresh = 1;
  queueMicrotask(reread);
  const url = here(), w = innerWidth, h = innerHeight;
  const key = url + ' ' + w + ' ' + h + ' ' + document.title;
  if (key === ctxKey) return;
  if (ctxKey && url !== ctxKey.split(' ')[0]) { ref = ctxKey.split(' ')[0]; readCampaign(); }
  ctxKey = key;
  // url first: the spread keeps its place (url, path, search, title, referrer).
  api.context(JSON.stringify({ page: { url, ...where(), referrer: ref }, ...(campaign && { campaign }), viewport: { width: w, height: h } }).slice(1, -1));
};

// The page's URL without its fragment.
export const here = () => location.href.split('#')[0];
// The page as page() reports it (path, url, search, title; then its referrer).
export const where = () => ({ path: location.pathname, url: here(), search: location.search, title: document.title });

export const reread = () => {
  fresh = 0;
};

// --- Leaving and start -------------------------------------------------------------
// The page is being left: the signals report on it (with its own page context, held
// meanwhile) and start again for the next page; the campaign is kept for the session.
export const leave = () => {
  held = 1;
  try {
    if (signals) signals.leave();
    keepCampaign();
  } finally { held = 0; }
};

// `options`: init's; `hooks`: { track(name, props), context(members), consented() }.
// Resolves once the signals (if any) are listening.
export const start = async (options, hooks) => {
  api = hooks;
  pc = options.pageContext !== false;
  ref = document.referrer;
  readCampaign();
  if (options.autocapture) {
    (signals = await import('./capture.js')).start(options.autocapture, hooks);
  }
};

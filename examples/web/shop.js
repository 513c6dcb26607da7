// The demo shop: a single-page app using the Cairn web tracker (pkg/cairn.js, built by
// wasm/build.sh), served by the collector at /demo/ (`bash scripts/run.sh`), so the
// endpoint is this origin. Write key ?writeKey=... (default "demo-key"); project hash
// key "demo-hash-key" (both what run.sh configures). Recommendations come from the
// recommender (examples/recommender) at ?reco=... (default this host, port 8081).
//
// Rules of the page: every product event carries the product's full context; one user
// action is one event (a recommended product's click is recommendation_clicked, a
// search result's is search_result_click, a listing's is product_clicked); the
// tracker's own autocapture is on for what the page does not track itself (scroll,
// time, exits, downloads, forms, impressions; not links: the shop's links are its
// product clicks).
import * as cairn from './pkg/cairn.js';

const params = new URLSearchParams(location.search);
const remember = (k, d) => { const v = params.get(k) || sessionStorage.getItem(k) || d; sessionStorage.setItem(k, v); return v; };
const writeKey = remember('writeKey', 'demo-key');
const reco = remember('reco', `${location.protocol}//${location.hostname}:8081`);

const catalog = [
  ['sku-1', 'Trail shoes', '👟', 89, 'footwear/running', 'Fleet'],
  ['sku-2', 'Rain jacket', '🧥', 129, 'clothing/outerwear', 'Nimbus'],
  ['sku-3', 'Wool socks', '🧦', 12.5, 'clothing/socks', 'Fleet'],
  ['sku-4', 'Backpack 30 L', '🎒', 74, 'gear/bags', 'Ridge'],
  ['sku-5', 'Sun hat', '👒', 24, 'clothing/hats', 'Nimbus'],
  ['sku-6', 'Water bottle', '🍶', 15, 'gear/hydration', 'Ridge'],
  ['sku-7', 'Running cap', '🧢', 19, 'clothing/hats', 'Fleet'],
  ['sku-8', 'Headlamp', '🔦', 39, 'gear/lights', 'Ridge'],
  ['sku-9', 'Hiking boots', '🥾', 149, 'footwear/hiking', 'Ridge'],
].map(([id, name, emoji, price, category, brand]) => ({ id, name, emoji, price, category, brand }));
const byId = (id) => catalog.find((p) => p.id === id);
// The product context every product event carries (the event table's PRODUCT fields).
const ctx = (p, more = {}) => ({ name: p.name, price: p.price, currency: 'EUR', category: p.category, brand: p.brand, ...more });
const cart = new Map();
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const money = (v) => `€${v.toFixed(2)}`;
const asked = [];
const log = (line) => { asked.unshift(`${new Date().toLocaleTimeString()} ${line}`); $('#asked').textContent = asked.slice(0, 50).join('\n'); };

// Every tracker call goes through here, so the page shows what the tracker was asked.
function call(fn, ...args) {
  try {
    const r = cairn[fn](...args);
    log(`${fn}(${args.map((a) => JSON.stringify(a)).join(', ')})${r === false ? ' -> not consented, dropped' : ''}`);
    if (r instanceof Promise) r.then(() => log(`${fn}: done`), (e) => log(`${fn}: ${e.message}`));
    return r;
  } catch (e) {
    log(`${fn} failed: ${e.message}`);
  }
}

function tile(p, list, i) {
  return `<div class="card" data-cairn-product="${p.id}"><div class="emoji">${p.emoji}</div>
    <a href="?p=${p.id}" data-nav data-open="${p.id}" data-list="${list}" data-pos="${i}">${esc(p.name)}</a>
    <div>${money(p.price)} · ${esc(p.brand)}</div><button data-add="${p.id}">Add to cart</button></div>`;
}
const grid = (items, list) => `<div class="grid" data-cairn-list="${list}">${items.map((p, i) => tile(p, list, i)).join('')}</div>`;

// Recommendations from the recommender; shown ones are told to the tracker, and the
// experiment the response names is recorded once per page load.
const exposed = new Set();
async function recommendations(el, list, query) {
  el.innerHTML = '';
  try {
    const q = new URLSearchParams({ anonId: cairn.anonymousId(), context: list, limit: '4', ...query });
    const user = sessionStorage.getItem('demoUser');
    if (user) q.set('userId', user);
    const r = await fetch(`${reco}/api/recommendations?${q}`);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const body = await r.json();
    const items = body.products.map((x) => ({ p: byId(x.id), why: x.reason })).filter((x) => x.p);
    if (!items.length) return;
    el.innerHTML = `<h3>${list === 'product-page' ? 'Customers also viewed' : 'Recommended for you'}</h3>
      <div class="grid reco" data-model="${esc(body.modelVersion)}" data-slot="${list}">${items.map(({ p, why }, i) =>
        `<div class="card"><div class="emoji">${p.emoji}</div><a href="?p=${p.id}" data-nav data-reco="${p.id}" data-pos="${i}">${esc(p.name)}</a>
         <div>${money(p.price)}</div><small>${esc(why || '')}</small></div>`).join('')}</div>`;
    call('recommendationShown', body.modelVersion, list, items.map((x) => x.p.id));
    for (const { id, variant } of body.experiments || []) {
      if (!exposed.has(id)) { exposed.add(id); call('experimentExposure', id, variant); }
    }
  } catch (e) {
    el.innerHTML = `<p class="muted">Recommendations unavailable (${esc(e.message)}): start examples/recommender.</p>`;
  }
}

function render() {
  const q = new URLSearchParams(location.search);
  const view = $('#view');
  if (q.get('p')) {
    const p = byId(q.get('p')) || catalog[0];
    view.innerHTML = `<div class="detail"><div class="emoji">${p.emoji}</div><h2>${esc(p.name)}</h2><p>${money(p.price)} · ${esc(p.brand)} · ${esc(p.category)}</p>
      <button data-add="${p.id}">Add to cart</button> <button id="wish">♡ Wishlist</button> <button id="hide">Not for me</button></div><div id="reco"></div>`;
    call('productViewed', p.id, ctx(p));
    $('#wish').onclick = () => call('wishlistAdd', p.id, ctx(p));
    $('#hide').onclick = () => call('hideItem', p.id, ctx(p));
    recommendations($('#reco'), 'product-page', { productId: p.id });
  } else if (q.get('q') !== null) {
    const term = q.get('q').toLowerCase();
    const hits = catalog.filter((p) => `${p.name} ${p.category} ${p.brand}`.toLowerCase().includes(term));
    view.innerHTML = `<h2>Results for “${esc(term)}” (${hits.length})</h2>${grid(hits, 'search')}`;
    call('search', term, { result_count: hits.length });
  } else if (q.get('view') === 'cart') {
    const lines = [...cart].map(([id, n]) => ({ p: byId(id), n }));
    const items = lines.map(({ p, n }) => ({ product_id: p.id, price: p.price, quantity: n, category: p.category, name: p.name, brand: p.brand }));
    const total = lines.reduce((s, l) => s + l.p.price * l.n, 0);
    view.innerHTML = `<h2>Cart</h2>${lines.map((l) => `<div>${l.p.emoji} ${esc(l.p.name)} × ${l.n} <button data-remove="${l.p.id}">Remove</button></div>`).join('') || '<p>Empty.</p>'}
      <p>Total ${money(total)}</p><button id="checkout" ${lines.length ? '' : 'disabled'}>Checkout</button><div id="reco"></div>`;
    $('#checkout').onclick = () => {
      call('checkoutStarted', items, total, 'EUR');
      view.innerHTML = `<h2>Checkout</h2><p>${lines.length} products, ${money(total)}</p><form id="pay"><input name="card" placeholder="Card (not sent)"> <button>Pay</button></form>`;
      $('#pay').onsubmit = (e) => {
        e.preventDefault();
        const order = 'order-' + Date.now().toString(36);
        call('purchase', order, items, total, 'EUR');
        cart.clear();
        count();
        call('flush');
        view.innerHTML = `<h2>Thank you!</h2><p>Order ${order} placed.</p>`;
      };
    };
    if (lines.length) recommendations($('#reco'), 'cart', {});
  } else {
    view.innerHTML = `<div id="reco"></div><h2>Products</h2>${grid(catalog, 'homepage')}`;
    recommendations($('#reco'), 'homepage', {});
  }
}

function count() { $('#count').textContent = [...cart.values()].reduce((a, b) => a + b, 0); }
function navigate(href) {
  history.pushState({}, '', href); // the tracker records one page view per route
  render();
}

document.addEventListener('click', (e) => {
  const t = (s) => e.target.closest(s);
  const add = t('[data-add]'), remove = t('[data-remove]'), nav = t('[data-nav]');
  if (add) {
    const p = byId(add.dataset.add);
    cart.set(p.id, (cart.get(p.id) || 0) + 1);
    count();
    call('addToCart', p.id, 1, ctx(p));
    return;
  }
  if (remove) {
    const p = byId(remove.dataset.remove);
    call('removeFromCart', p.id, cart.get(p.id), ctx(p));
    cart.delete(p.id);
    count();
    render();
    return;
  }
  if (!nav) return;
  e.preventDefault();
  const pos = +nav.dataset.pos;
  if (nav.dataset.reco) {
    const slot = nav.closest('.reco');
    call('recommendationClicked', slot.dataset.model, slot.dataset.slot, nav.dataset.reco, pos);
  } else if (nav.dataset.open && nav.dataset.list === 'search') {
    call('searchResultClick', new URLSearchParams(location.search).get('q'), nav.dataset.open, ctx(byId(nav.dataset.open), { position: pos, list: 'search' }));
  } else if (nav.dataset.open) {
    call('productClicked', nav.dataset.open, ctx(byId(nav.dataset.open), { position: pos, list: nav.dataset.list }));
  }
  navigate(nav.getAttribute('href'));
});
addEventListener('popstate', render);
$('#search').onsubmit = (e) => { e.preventDefault(); navigate(`?q=${encodeURIComponent(e.target.q.value)}`); };

// Sign-in: the shop's own user id, hashed on the device with the project hash key.
$('#signin').onclick = (e) => {
  e.preventDefault();
  const user = sessionStorage.getItem('demoUser') ? null : 'demo-user-1';
  if (user) { call('identify', user, { email: `${user}@example.com`, plan: 'demo' }); sessionStorage.setItem('demoUser', user); }
  else { call('reset'); sessionStorage.removeItem('demoUser'); }
  showUser();
  render();
};
const showUser = () => { $('#signin').textContent = sessionStorage.getItem('demoUser') ? 'Sign out demo-user-1' : 'Sign in'; };

// Consent: the banner's choice and the privacy settings show the tracker's state; the
// tracker itself sends the record of every choice (consent_changed).
function showConsent() {
  const c = cairn.getConsent();
  for (const k of ['analytics', 'personalization', 'marketing']) $(`#c-${k}`).checked = !!c[k];
  $('#consent-state').textContent = Object.entries(c).filter(([, v]) => v).map(([k]) => k).join(', ') || 'nothing granted';
}
function choose(consent) {
  call('setConsent', consent);
  sessionStorage.setItem('cairnDemoAsked', '1');
  $('#banner').hidden = true;
  showConsent();
  render();
}
$('#accept-all').onclick = () => choose(true);
$('#accept-analytics').onclick = () => choose({ analytics: true });
$('#reject').onclick = () => choose(false);
$('#save-consent').onclick = () => choose({ analytics: $('#c-analytics').checked, personalization: $('#c-personalization').checked, marketing: $('#c-marketing').checked });
$('#privacy').onclick = (e) => { e.preventDefault(); showConsent(); $('#banner').hidden = false; };

// What reached the collector for this visitor: the demo-only endpoint (no read key in
// the page), long-polled.
async function stored(after = 0) {
  const seen = [];
  for (;;) {
    try {
      const r = await fetch(`/demo/api/events?anonymousId=${encodeURIComponent(cairn.anonymousId())}&after=${after}&wait=10`);
      const body = await r.json();
      after = body.next;
      for (const { source, value: v } of body.events) {
        seen.unshift(`${v.receivedAt.slice(11, 19)} ${v.type} ${v.event || v.name || ''} [${v.context?.purpose}] from ${source}`);
      }
      $('#stored').textContent = seen.slice(0, 50).join('\n') || 'nothing yet';
    } catch (e) {
      $('#stored').textContent = `cannot read: ${e.message}`;
      await new Promise((ok) => setTimeout(ok, 2000));
    }
  }
}

try {
  const autocapture = { scroll: true, time: true, quickExit: true, pageExit: true, downloads: true, forms: true, impressions: true };
  await cairn.init({ writeKey, hashKey: 'demo-hash-key', autocapture });
  const c = cairn.getConsent();
  log(`init(writeKey "${writeKey}") consent ${JSON.stringify(c)}, anonymousId ${cairn.anonymousId()}`);
  $('#banner').hidden = sessionStorage.getItem('cairnDemoAsked') === '1';
  showConsent();
  showUser();
  stored();
} catch (e) {
  log(`init failed: ${e.message}`);
}
render();

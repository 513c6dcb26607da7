// The demo shop: a single-page app using the Cairn web tracker (pkg/cairn.js, built by
// wasm/build.sh). Served by the collector at /demo/, so the endpoint is this origin.
// Write key: ?writeKey=... in the URL, else "demo-key" (start the collector with
// CAIRN_WRITE_KEYS=demo-key bash scripts/run.sh).
import * as cairn from './pkg/cairn.js';

const params = new URLSearchParams(location.search);
const writeKey = params.get('writeKey') || sessionStorage.getItem('cairnDemoKey') || 'demo-key';
sessionStorage.setItem('cairnDemoKey', writeKey);

const products = [
  { id: 'sku-1', name: 'Trail shoes', emoji: '👟', price: 89, tags: 'shoes running' },
  { id: 'sku-2', name: 'Rain jacket', emoji: '🧥', price: 129, tags: 'jacket rain' },
  { id: 'sku-3', name: 'Wool socks', emoji: '🧦', price: 12.5, tags: 'socks wool' },
  { id: 'sku-4', name: 'Backpack 30 L', emoji: '🎒', price: 74, tags: 'bag backpack' },
  { id: 'sku-5', name: 'Sun hat', emoji: '👒', price: 24, tags: 'hat sun' },
  { id: 'sku-6', name: 'Water bottle', emoji: '🍶', price: 15, tags: 'bottle water' },
];
const cart = new Map();
const $ = (s) => document.querySelector(s);
const log = (line) => { $('#log').textContent = `${new Date().toLocaleTimeString()} ${line}\n` + $('#log').textContent; };
const money = (v) => `€${v.toFixed(2)}`;

function card(p, extra = '') {
  // data-cairn-* attributes: the click is tracked with these properties, no code needed.
  return `<div class="card"><div class="emoji">${p.emoji}</div><a href="?p=${p.id}" data-nav
      data-cairn-event="product_click" data-cairn-product-id="${p.id}" data-cairn-price="${p.price}">${p.name}</a>
    <div>${money(p.price)}</div>${extra}
    <button data-add="${p.id}" data-cairn-event="add_to_cart_click" data-cairn-product-id="${p.id}">Add to cart</button></div>`;
}

function render() {
  const q = new URLSearchParams(location.search);
  const view = $('#view');
  if (q.get('p')) {
    const p = products.find((x) => x.id === q.get('p')) || products[0];
    view.innerHTML = `<div class="detail"><div class="emoji">${p.emoji}</div><h2>${p.name}</h2><p>${money(p.price)}</p>
      <button data-add="${p.id}">Add to cart</button> <button id="wish">♡ Wishlist</button> <button id="hide">Not for me</button></div>`;
    call('productViewed', p.id, { price: p.price });
    $('#wish').onclick = () => call('wishlistAdd', p.id);
    $('#hide').onclick = () => call('hideItem', p.id, {}, { purpose: 'personalization' });
  } else if (q.get('q') !== null) {
    const term = q.get('q').toLowerCase();
    const hits = products.filter((p) => (p.name + ' ' + p.tags).toLowerCase().includes(term));
    view.innerHTML = `<h2>Results for “${term}” (${hits.length})</h2><div class="grid">${hits.map((p) => card(p)).join('')}</div>`;
    call('search', term, { results: hits.length });
    view.querySelectorAll('.card a').forEach((a, i) => a.addEventListener('click', () => call('searchResultClick', term, hits[i].id, { position: i })));
  } else if (q.get('view') === 'cart') {
    const lines = [...cart].map(([id, n]) => ({ p: products.find((x) => x.id === id), n }));
    const total = lines.reduce((s, l) => s + l.p.price * l.n, 0);
    view.innerHTML = `<h2>Cart</h2>${lines.map((l) => `<div>${l.p.emoji} ${l.p.name} × ${l.n} <button data-remove="${l.p.id}">Remove</button></div>`).join('') || '<p>Empty.</p>'}
      <p>Total ${money(total)}</p><button id="buy" ${lines.length ? '' : 'disabled'}>Buy now</button>`;
    $('#buy').onclick = () => {
      const order = 'order-' + Date.now().toString(36);
      const items = lines.map((l) => ({ product_id: l.p.id, price: l.p.price, quantity: l.n }));
      call('purchase', order, items, total, 'EUR');
      cart.clear();
      count();
      call('flush');
      view.innerHTML = `<h2>Thank you!</h2><p>Order ${order} placed.</p>`;
    };
  } else {
    view.innerHTML = `<h2>Products</h2><div class="grid">${products.map((p) => card(p)).join('')}</div>`;
  }
}

function count() { $('#count').textContent = [...cart.values()].reduce((a, b) => a + b, 0); }

// Every tracker call goes through here so the page can show it.
function call(fn, ...args) {
  try {
    const r = cairn[fn](...args);
    log(`${fn}(${args.map((a) => JSON.stringify(a)).join(', ')})${r === false ? ' -> not consented, dropped' : ''}`);
    if (r instanceof Promise) r.then(() => log('flush: delivered'), (e) => log(`flush: ${e.message}`));
  } catch (e) {
    log(`${fn} failed: ${e.message}`);
  }
}

function navigate(href) {
  history.pushState({}, '', href); // the tracker records one page view per route
  render();
}

document.addEventListener('click', (e) => {
  const nav = e.target.closest('[data-nav]');
  const add = e.target.closest('[data-add]');
  const remove = e.target.closest('[data-remove]');
  if (add) {
    const id = add.dataset.add;
    cart.set(id, (cart.get(id) || 0) + 1);
    count();
    call('addToCart', id, 1, { price: products.find((p) => p.id === id).price });
  } else if (remove) {
    cart.delete(remove.dataset.remove);
    count();
    call('removeFromCart', remove.dataset.remove, 1);
    render();
  } else if (nav) {
    e.preventDefault();
    navigate(nav.getAttribute('href'));
  }
});
addEventListener('popstate', render);
$('#search').onsubmit = (e) => { e.preventDefault(); navigate(`?q=${encodeURIComponent(e.target.q.value)}`); };

function choose(consent) {
  call('setConsent', consent);
  $('#banner').hidden = true;
  sessionStorage.setItem('cairnDemoAsked', '1');
}
$('#accept-all').onclick = () => choose(true);
$('#accept-analytics').onclick = () => choose({ analytics: true });
$('#reject').onclick = () => choose(false);
$('#privacy').onclick = (e) => { e.preventDefault(); $('#banner').hidden = false; };

try {
  // The project's hash key: user ids, e-mails and phones are hashed with it on the device.
  await cairn.init({ writeKey, endpoint: location.origin, hashKey: 'demo-hash-key' });
  const c = cairn.getConsent();
  log(`init(writeKey "${writeKey}") consent ${JSON.stringify(c)}, anonymousId ${cairn.anonymousId()}`);
  $('#banner').hidden = c.analytics || c.personalization || sessionStorage.getItem('cairnDemoAsked') === '1';
} catch (e) {
  log(`init failed: ${e.message}`);
}
render();

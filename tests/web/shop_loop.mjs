// The demo shop's loop in Chromium (run by tests/tests/e2e/shop_loop.rs): accept the
// banner, look at the home page's recommendations, open a product, add it to the cart,
// and go home until the recommendations change. Prints `KEY json` lines.
//   node shop_loop.mjs <playwright-core index.mjs> <shop url>
const [playwright, url] = process.argv.slice(2);
const { chromium } = await import(playwright);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const say = (k, v) => console.log(`${k} ${JSON.stringify(v)}`);
// The recommendations a slot shows: [id, reason] pairs, once the slot has rendered.
const slot = (page, name) => page.waitForFunction((name) => {
  const g = document.querySelector(`.reco[data-slot="${name}"]`);
  return g && [...g.querySelectorAll('[data-reco]')].map((a) => [a.dataset.reco, a.parentElement.querySelector('small').textContent]);
}, name, { timeout: 10000 }).then((h) => h.jsonValue());
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => say('PAGE_ERROR', String(e)));
  await page.goto(url);
  await page.click('#accept-all');
  say('ANONYMOUS_ID', await page.evaluate(() => import('./pkg/cairn.js').then((c) => c.anonymousId())));
  const before = await slot(page, 'homepage');
  say('HOME_BEFORE', before);
  await page.click('a[data-open="sku-1"]');
  say('ALSO_VIEWED', await slot(page, 'product-page'));
  await page.click('button[data-add="sku-1"]');
  const clicked = Date.now();
  // Home again, re-rendered until its recommendations differ (or 10 s).
  let after = before;
  while (JSON.stringify(after) === JSON.stringify(before) && Date.now() - clicked < 10000) {
    await page.click('header strong a');
    after = await slot(page, 'homepage');
    if (JSON.stringify(after) === JSON.stringify(before)) await sleep(100);
  }
  say('HOME_AFTER', { recommendations: after, ms: Date.now() - clicked });
  await page.evaluate(() => import('./pkg/cairn.js').then((c) => c.flush()));
} finally {
  await browser.close();
}

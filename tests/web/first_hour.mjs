// The demo shop's first hour in Chromium (run by tests/tests/e2e/first_hour.rs).
//   node first_hour.mjs <playwright-core index.mjs> <shop url> <good write key>
// wrong key: the shop with ?writeKey=wrong-key; flush rejects with the refusal and the
//   events stay queued; the same browser with the right key delivers them.
// landing:   the first page view (with its outside referrer) is sent after "Accept
//   all"; in another browser, "Reject" sends the record of the choice only.
// Prints `KEY json` lines.
const [playwright, url, goodKey] = process.argv.slice(2);
const { chromium } = await import(playwright);
const say = (k, v) => console.log(`${k} ${JSON.stringify(v)}`);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const tracker = (page, f) => page.evaluate(f);
try {
  // --- A wrong key -------------------------------------------------------------
  const ctx = await browser.newContext();
  let page = await ctx.newPage();
  await page.goto(`${url}?writeKey=wrong-key`);
  await page.click('#accept-all');
  await page.click('button[data-add="sku-1"]');
  const refused = await tracker(page, async () => {
    const c = await import('./pkg/cairn.js');
    try { await c.flush(); return { ok: true }; } catch (e) { return { error: e.message, queued: c.queued(), anon: c.anonymousId() }; }
  });
  say('WRONG_KEY', refused);
  await page.close();
  // The key fixed: the same browser (its stored queue) with the right key.
  page = await ctx.newPage();
  await page.goto(`${url}?writeKey=${goodKey}`);
  // The shop shows the consent state once init() is done.
  await page.waitForFunction(() => document.querySelector('#consent-state').textContent !== '…');
  const fixed = await tracker(page, async () => {
    const c = await import('./pkg/cairn.js');
    // The closed page's queue is adopted at start; flush until nothing is left.
    for (let i = 0; i < 50 && c.queued() > 0; i++) { await c.flush().catch(() => {}); await new Promise((r) => setTimeout(r, 100)); }
    return { queued: c.queued(), anon: c.anonymousId() };
  });
  say('FIXED', fixed);
  await ctx.close();

  // --- The landing page and the banner -------------------------------------------
  for (const choice of ['accept-all', 'reject']) {
    const c = await browser.newContext();
    const p = await c.newPage();
    await p.goto(`${url}?writeKey=${goodKey}`, { referer: 'https://search.example/?q=trail+shoes' });
    await p.click(`#${choice}`);
    const r = await tracker(p, async () => {
      const t = await import('./pkg/cairn.js');
      await t.flush().catch((e) => e.message);
      return { anon: t.anonymousId() };
    });
    say(choice === 'reject' ? 'REJECTED' : 'ACCEPTED', r);
    await c.close();
  }
} finally {
  await browser.close();
}

// Browser cases of autocapture (wasm/js/auto.js), added to run.mjs's cases. The page
// is pages/auto.html: a long page with internal, external and download links, a form
// and three product tiles near its bottom, opened with UTM parameters.
import { strict as assert } from 'node:assert';

const UTM = '?utm_source=news&utm_medium=email&utm_campaign=spring';
const ALL = { scroll: true, time: true, quickExit: 120000, pageExit: true, links: true, downloads: true, forms: true, impressions: true };

// What a visitor does on the page: scroll down in steps to the bottom (the tiles
// come into view there), then, once the tiles are counted, follow the three links
// (an in-page one, which is no link click) and fill and submit the form (clicks
// scroll the tiles out of view again).
async function scrollDown(page) {
  await page.evaluate(async () => {
    const max = document.documentElement.scrollHeight - innerHeight;
    for (let i = 1; i <= 8; i++) await scrollAndWait((max * i) / 8);
    await tilesSeen();
  });
}
async function interact(page) {
  for (const id of ['#in-page', '#internal', '#external', '#download']) await page.locator(id).click();
  await page.locator('#email').fill('someone@example.com');
  await page.locator('#email').press('End');
  await page.locator('#send').click();
}

export function autoCases(h) {
  const { A, context, open, feed, waitFor, anonOf, sleep } = h;
  return {
    async 'autocapture before consent: nothing sent, nothing stored'() {
      const { ctx, sent } = await context();
      const page = await open(ctx, { autocapture: true }, '/demo/auto.html' + UTM);
      const anon = await anonOf(page);
      await scrollDown(page);
      // The impression timer (1 s after the tiles were seen) and its batch (1 s more)
      // have run out when this wait ends: the check is that they sent nothing.
      await sleep(2500);
      await interact(page);
      const before = await page.evaluate(async () => {
        const q = cairn.queued();
        dispatchEvent(new Event('pagehide')); // time, quick exit and page exit: not consented either
        return { q, after: cairn.queued(), st: await stored() };
      });
      assert.equal(before.q + before.after, 0, 'nothing queued before consent');
      assert.deepEqual(before.st, { dbs: [], localStorage: 0 }, 'nothing stored (not even the campaign)');
      await page.close();
      await sleep(300);
      assert.equal(sent.length, 0, `requests before consent: ${sent.map((s) => s.url())}`);
      assert.equal((await feed(A)).filter((e) => e.anonymousId === anon).length, 0, 'nothing in the feed');
      await ctx.close();
      return 'scroll, tiles, 3 links, a form and the exit without consent: 0 requests, 0 stored, 0 in the feed';
    },

    async 'autocapture: each signal once, with page and campaign context'() {
      const { ctx } = await context();
      const opts = { autocapture: ALL, consent: true, flushInterval: 60000 };
      const page = await open(ctx, opts, '/demo/auto.html' + UTM);
      const anon = await anonOf(page);
      await scrollDown(page);
      // The impressions are batched 1 s after they are seen: flush until they are in.
      await waitFor(A, anon, 1, 8000, (e) => e.event === 'product_impression', () => page.evaluate(() => cairn.flush().catch(() => {})));
      await interact(page);
      // The page is closed with an upload in flight: the beacon takes it and the exit.
      await page.evaluate(() => { cairn.track('last_before_close'); cairn.flush().catch(() => {}); });
      await page.close();
      const want = { page: 1, scroll_depth: 4, product_impression: 1, link_click: 2, download: 1, form_start: 1,
        form_submit: 1, last_before_close: 1, time_on_page: 1, quick_exit: 1, page_exit: 1 };
      const total = Object.values(want).reduce((a, b) => a + b, 0);
      const { evs } = await waitFor(A, anon, total, 8000);
      const count = {};
      for (const e of evs) count[e.event || e.type] = (count[e.event || e.type] || 0) + 1;
      assert.deepEqual(count, want, 'each expected event once');
      assert.deepEqual(evs.filter((e) => e.event === 'scroll_depth').map((e) => e.properties.percent).sort((a, b) => a - b), [25, 50, 75, 100]);
      const by = (n) => evs.find((e) => e.event === n).properties;
      assert.deepEqual(by('product_impression'), { product_ids: ['sku-1', 'sku-2', 'sku-3'], list: 'home' });
      const links = evs.filter((e) => e.event === 'link_click').map((e) => [e.properties.link_type, e.properties.url]).sort();
      assert.deepEqual(links, [['external', 'https://example.com/partner'], ['internal', `${A}/demo/auto.html?next=1`]]);
      assert.deepEqual(by('download'), { file_name: 'price-list.pdf', url: `${A}/demo/files/price-list.pdf` });
      assert.deepEqual([by('form_start'), by('form_submit')], [{ form_id: 'signup' }, { form_id: 'signup' }], 'the form id only, never a value');
      assert.ok(!JSON.stringify(evs).includes('someone@example.com'), 'no field value anywhere');
      const exit = by('page_exit');
      assert.ok(exit.engaged_ms > 0 && exit.engaged_ms <= exit.visible_ms && exit.max_scroll === 100, JSON.stringify(exit));
      assert.ok(by('time_on_page').duration_ms >= exit.visible_ms - 1, 'visible time on both');
      for (const e of evs) {
        const c = e.context;
        assert.equal(c.page.path, '/demo/auto.html', `${e.event}: context.page.path`);
        assert.equal(c.page.url, `${A}/demo/auto.html${UTM}`);
        assert.deepEqual(c.campaign, { source: 'news', medium: 'email', name: 'spring' }, `${e.event}: campaign`);
        assert.ok(c.viewport.width > 0 && c.viewport.height > 0 && c.locale && c.timezone, `${e.event}: viewport, locale, timezone`);
        assert.deepEqual([c.device.type, c.os.name, typeof c.browser.name], ['desktop', 'Linux', 'string']);
      }
      // The campaign is kept for the session: a later page without UTM parameters carries it.
      const next = await open(ctx, { consent: true }, '/demo/auto.html');
      await next.evaluate(() => cairn.flush());
      const { evs: later } = await waitFor(A, anon, total + 1, 5000);
      const view = later.find((e) => e.type === 'page' && e.context.page.search === '');
      assert.deepEqual(view.context.campaign, { source: 'news', medium: 'email', name: 'spring' });
      await ctx.close();
      return `${total} events, each once, all with page, campaign, viewport and device context; engaged ${exit.engaged_ms} of ${exit.visible_ms} ms visible; campaign on the next page; ${c0(evs)}`;
    },
  };
}

const c0 = (evs) => `browser ${evs[0].context.browser.name}`;

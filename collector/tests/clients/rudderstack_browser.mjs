// RudderStack's browser SDK (npm: @rudderstack/analytics-js, its "bundled" build, so no
// plugin is fetched at run time) in Debian's headless Chromium, driven by playwright-core,
// posting to a Cairn collector on another origin. Run by collector/tests/rudderstack_browser.rs:
//
//     node rudderstack_browser.mjs <collector url> <write key>
//
// The page is served from its own loopback origin (another port, so every post to the
// collector is cross-origin and preflighted). Nothing may leave loopback: the source
// config comes from `getSourceConfig`, the only plugin is XhrQueue (bundled), and every
// other host fails to resolve (browser_support.mjs, which also has the page and the
// protocol with the Rust test). The report: calls, their messageIds, the posts' headers and
// statuses, the preflights seen and the answers' allowed headers.
import { command, finish, startRudderStack, until } from './browser_support.mjs'

const [collectorUrl, writeKey] = process.argv.slice(2)
// The page, the SDK and the report as rudderstack_beacon.mjs has them; here the SDK posts
// with XhrQueue (bundled).
const { server, browser, report, open } = await startRudderStack({
  collectorUrl, title: 'RudderStack on Cairn', loadOptions: { plugins: ['XhrQueue'] },
})

async function calls(call) {
  await call('page', 'page', 'Docs', 'Install', { path: '/docs/install', section: 'cli' })
  await call('track', 'track', 'Product Added', { sku: 'RS-42', price: 19.5 })
  await call('identify', 'identify', 'rs-user-1', { email: 'rs.user@example.com', plan: 'pro' })
}

try {
  // One post per call (RudderStack's default), to /v1/page, /v1/track, /v1/identify.
  // Retries start within 100 ms instead of 1 s, and go on (until DEADLINE_MS here)
  // however long the restarted collector takes to listen.
  const single = await open('single', writeKey,
    { queueOptions: { minRetryDelay: 100, maxRetryDelay: 1000, maxAttempts: 1000 } })
  await calls(single.call)
  await until('the single posts to be delivered', single.delivered)

  // The collector killed: the next post fails (its preflight is cached); RudderStack
  // retries with its Rsa-* headers, whose new preflight fails too; once the collector is
  // back on its port, a retry's preflight is answered and the event delivered.
  await command('kill9')
  const before = single.session.posts.length
  await single.call('retried track', 'track', 'Checkout Started', { step: 1 })
  await until('the post to the killed collector to fail', () =>
    single.session.posts.slice(before).some((p) => p.failure !== null))
  await until('a retry preflight to the killed collector to fail', () =>
    single.session.preflights.some((p) => p.failure !== null &&
      (p.requestHeaders ?? '').includes('rsa-retry-attempt')))
  await command('restart')
  await until('the retried post to be delivered', single.delivered)

  // Batching on: the three calls in one post to /v1/batch ({batch, sentAt}).
  const batch = await open('batch', writeKey,
    { queueOptions: { batch: { enabled: true, maxItems: 3, flushInterval: 60_000 } } })
  await calls(batch.call)
  await until('the batch to be delivered', batch.delivered)
} catch (e) {
  report.error = String(e?.stack ?? e)
}
await finish(report, browser, server)

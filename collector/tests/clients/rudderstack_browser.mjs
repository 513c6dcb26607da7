// RudderStack's browser SDK (npm: @rudderstack/analytics-js, its "bundled" build, so no
// plugin is fetched at run time) in Debian's headless Chromium, driven by playwright-core,
// posting to a Cairn collector on another origin. Run by collector/tests/rudderstack_browser.rs:
//
//     node rudderstack_browser.mjs <collector url> <write key>
//
// The page is served from its own loopback origin (another port, so every post to the
// collector is cross-origin and preflighted). Nothing may leave loopback: the source
// config comes from `getSourceConfig`, the only plugin is XhrQueue (bundled), and every
// other host fails to resolve (browser_support.mjs, which also has the protocol with the
// Rust test). The report: calls, their messageIds, the posts' headers and statuses, the
// preflights seen and the answers' allowed headers.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  DEADLINE_MS, command, finish, launch, newReport, openSession, servePage, until,
} from './browser_support.mjs'

const [collectorUrl, writeKey] = process.argv.slice(2)
// The ESM build with every plugin bundled in (the package's "./bundled" export).
const sdkPath = fileURLToPath(import.meta.resolve('@rudderstack/analytics-js/bundled'))
const packageDir = sdkPath.slice(0, sdkPath.indexOf('/dist/'))
const { version } = JSON.parse(readFileSync(`${packageDir}/package.json`, 'utf8'))
const sdk = readFileSync(sdkPath)
const collectorOrigin = new URL(collectorUrl).origin

const PAGE = `<!doctype html><meta charset="utf-8"><title>RudderStack on Cairn</title>
<script type="module">
import { RudderAnalytics } from '/sdk/analytics.mjs'
window.startRudder = (writeKey, dataPlaneUrl, queueOptions) => new Promise((resolve, reject) => {
  const analytics = new RudderAnalytics()
  window.analytics = analytics
  analytics.load(writeKey, dataPlaneUrl, {
    // The source config a RudderStack control plane would serve: enabled, no destinations.
    getSourceConfig: () => ({
      source: { id: 'cairn-test-source', name: 'Cairn test', workspaceId: 'cairn', enabled: true,
        config: {}, destinations: [] },
    }),
    plugins: ['XhrQueue'],
    polyfillIfRequired: false,
    destSDKBaseURL: location.origin + '/no-destinations',
    pluginsSDKBaseURL: location.origin + '/no-plugins',
    queueOptions,
    onLoaded: () => resolve(analytics.getAnonymousId()),
  })
  setTimeout(() => reject(new Error('RudderStack did not call onLoaded')), ${DEADLINE_MS})
})
// Calls RudderStack's method; resolves with the event it enqueued (its callback's argument).
window.rudderCall = (method, ...args) => new Promise((resolve, reject) => {
  window.analytics[method](...args, (event) => resolve(event))
  setTimeout(() => reject(new Error(method + ': RudderStack never called back')), ${DEADLINE_MS})
})
</script>`

const { server, origin: pageOrigin } = await servePage({
  '/': { type: 'text/html', body: PAGE },
  '/sdk/analytics.mjs': { type: 'text/javascript', body: sdk },
})
const browser = await launch()
const report = newReport({
  library: '@rudderstack/analytics-js', version, sdk: sdkPath.slice(sdkPath.indexOf('dist/')),
  pageOrigin, collectorOrigin,
})

// A fresh browser profile on the test page with RudderStack loaded (`queueOptions` as
// given), recording every post to the collector and every preflight into its session.
async function open(name, queueOptions) {
  const s = await openSession(browser, report, name, `${pageOrigin}/`, collectorOrigin)
  s.session.anonymousId = await s.page.evaluate(([k, u, q]) => window.startRudder(k, u, q),
    [writeKey, collectorUrl, queueOptions])
  s.call = async (label, method, ...args) => {
    const event = await s.page.evaluate(([m, a]) => window.rudderCall(m, ...a), [method, args])
    s.session.calls.push({ call: label, type: event.type, messageId: event.messageId })
  }
  return s
}

async function calls(call) {
  await call('page', 'page', 'Docs', 'Install', { path: '/docs/install', section: 'cli' })
  await call('track', 'track', 'Product Added', { sku: 'RS-42', price: 19.5 })
  await call('identify', 'identify', 'rs-user-1', { email: 'rs.user@example.com', plan: 'pro' })
}

try {
  // One post per call (RudderStack's default), to /v1/page, /v1/track, /v1/identify.
  // Retries start within 100 ms instead of 1 s, and go on (until DEADLINE_MS here)
  // however long the restarted collector takes to listen.
  const single = await open('single', { minRetryDelay: 100, maxRetryDelay: 1000, maxAttempts: 1000 })
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
  const batch = await open('batch', { batch: { enabled: true, maxItems: 3, flushInterval: 60_000 } })
  await calls(batch.call)
  await until('the batch to be delivered', batch.delivered)
} catch (e) {
  report.error = String(e?.stack ?? e)
}
await finish(report, browser, server)

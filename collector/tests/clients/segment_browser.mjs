// Segment's browser SDK (npm: @segment/analytics-next, its UMD build dist/umd/index.js,
// global `AnalyticsNext`) in Debian's headless Chromium, driven by playwright-core,
// posting to a Cairn collector on another origin. Run by collector/tests/segment_browser.rs:
//
//     node segment_browser.mjs <collector url> <write key> <delivered|other-paths>
//
// Offline: `AnalyticsBrowser.load` gets its CDN settings inline (`cdnSettings`: only the
// Segment.io destination, pointed at the collector with protocol http; no remote plugins,
// no legacy destinations, metrics sampling 0), so nothing is fetched from a Segment CDN;
// the webpack chunks the UMD build may load lazily are served from the page's origin
// (`window.analytics._cdn`, read when the bundle starts). See browser_support.mjs.
//
// Every fetch the SDK starts is logged in the page (URL, method, headers, keepalive)
// next to what Chromium sent and the preflights' answers. Sessions of `delivered`:
// - standard: one post per call (page, track, identify with an e-mail trait) to /v1/p,
//   /v1/t, /v1/i; then the collector is killed (-9), the next track fails and is retried
//   with X-Retry-Count once the collector is back.
// - keepalive: the same calls with `deliveryStrategy.config.keepalive` (the SDK's
//   beacon-like mode: the fetch may outlive the page); then, in a fresh profile, a track
//   whose fetch is started in the task that leaves the page.
// Sessions of `other-paths` (the paths analytics-next posts to besides /p, /t, /i):
// - batching: `deliveryStrategy: { strategy: 'batching' }`: the calls in one post to
//   `<apiHost>/b`;
// - group-alias: group() and alias() in standard mode, to `<apiHost>/g` and `/a`.
// These wait for each post's answer and report it, whatever it is.
import { readFileSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import {
  DEADLINE_MS, command, finish, launch, newReport, openSession, servePage, until,
} from './browser_support.mjs'

const [collectorUrl, writeKey, mode] = process.argv.slice(2)
const require = createRequire(import.meta.url)
const packageJson = require.resolve('@segment/analytics-next/package.json')
const { version } = JSON.parse(readFileSync(packageJson, 'utf8'))
const umdDir = join(dirname(packageJson), 'dist/umd')
const collectorOrigin = new URL(collectorUrl).origin
// analytics-next posts to `${protocol}://${apiHost}/<first letter of the type>`
// (batches to `${apiHost}/b`): the collector's Segment short paths under /v1.
const apiHost = `${new URL(collectorUrl).host}/v1`

const PAGE = `<!doctype html><meta charset="utf-8"><title>Segment on Cairn</title>
<script>
// The UMD bundle takes its chunk URL (webpack public path) from here when it starts.
window.analytics = { _cdn: location.origin }
// What analytics-next asked fetch for (it calls the global fetch).
window.fetchLog = []
const realFetch = window.fetch
window.fetch = (url, init = {}) => {
  let body = null
  try { body = JSON.parse(init.body) } catch {}
  const entry = { url: String(url), method: init.method ?? 'GET',
    headers: init.headers ?? {}, keepalive: init.keepalive ?? null,
    messageIds: (body?.batch ?? [body]).map((e) => e?.messageId) }
  window.fetchLog.push(entry)
  const answer = realFetch(url, init)
  // Set to leave the page in the task that started the fetch (remembering the fetch
  // for the next page of this origin).
  if (window.leaveOnFetch) {
    sessionStorage.setItem('leftWith', JSON.stringify(entry))
    location.href = '/left'
  }
  return answer
}
</script>
<script src="/analytics-next/bundles/index.js"></script>
<script>
window.startSegment = async (writeKey, apiHost, segmentSettings) => {
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({
    writeKey,
    // What cdn.segment.com would serve for a source with no destinations.
    cdnSettings: {
      integrations: {
        'Segment.io': { apiKey: writeKey, apiHost, protocol: 'http', ...segmentSettings },
      },
      remotePlugins: [],
      plan: {},
      metrics: { sampleRate: 0 },
    },
  }, { integrations: { All: false, 'Segment.io': true } })
  window.segment = analytics
  return analytics.user().anonymousId()
}
// Calls the SDK's method; resolves with the event it dispatched (its context's event).
window.segmentCall = async (method, ...args) => {
  const ctx = await window.segment[method](...args)
  return { type: ctx.event.type, messageId: ctx.event.messageId }
}
</script>`

const files = {
  '/': { type: 'text/html', body: PAGE },
  '/left': { type: 'text/html', body: '<!doctype html><title>Left</title>' },
}
for (const name of readdirSync(umdDir).filter((n) => n.endsWith('.js'))) {
  files[`/analytics-next/bundles/${name}`] = { type: 'text/javascript', body: readFileSync(join(umdDir, name)) }
}
const { server, origin: pageOrigin } = await servePage(files)
const browser = await launch()
const report = newReport({
  library: '@segment/analytics-next', version, sdk: 'dist/umd/index.js', pageOrigin,
  collectorOrigin, apiHost, mode,
})

async function open(name, segmentSettings) {
  const s = await openSession(browser, report, name, `${pageOrigin}/`, collectorOrigin)
  s.session.anonymousId = await s.page.evaluate(([k, h, o]) => window.startSegment(k, h, o),
    [writeKey, apiHost, segmentSettings])
  s.call = async (label, method, ...args) => {
    const event = await s.page.evaluate(([m, a]) => window.segmentCall(m, ...a), [method, args])
    s.session.calls.push({ call: label, ...event })
  }
  // The fetches the SDK asked for, read back from the page into the report.
  s.readFetches = async () => {
    s.session.fetches = await s.page.evaluate(() => window.fetchLog)
  }
  return s
}

async function calls(call) {
  await call('page', 'page', 'Docs', 'Install', { section: 'cli' })
  await call('track', 'track', 'Product Added', { sku: 'SG-42', price: 19.5 })
  await call('identify', 'identify', 'sg-user-1', { email: 'sg.user@example.com', plan: 'pro' })
}

// Each post of the session answered or failed.
const settled = (s) => () => s.session.posts.length > 0 &&
  s.session.posts.every((p) => p.status !== null || p.failure !== null)

async function delivered() {
  // Retries start after 0.1 s (the least analytics-next allows) and keep going.
  const fastRetries = { backoffConfig: { baseBackoffInterval: 0.1, maxBackoffInterval: 1,
    maxRetryCount: 100, jitterPercent: 0 } }
  const standard = await open('standard', { httpConfig: fastRetries })
  await calls(standard.call)
  await until('the standard posts to be delivered', standard.delivered)

  // The collector killed: the next post fails at the socket (its preflight is cached);
  // analytics-next retries with X-Retry-Count (a new header, so a new preflight) until
  // the collector is back.
  await command('kill9')
  const before = standard.session.posts.length
  await standard.call('retried track', 'track', 'Checkout Started', { step: 1 })
  await until('a post to the killed collector to fail', () =>
    standard.session.posts.slice(before).some((p) => p.failure !== null))
  await command('restart')
  await until('the retried post to be delivered', standard.delivered)
  await standard.readFetches()

  const keepalive = await open('keepalive', { deliveryStrategy: { strategy: 'standard',
    config: { keepalive: true } } })
  await calls(keepalive.call)
  await until('the keepalive posts to be delivered', keepalive.delivered)
  await keepalive.readFetches()

  // What keepalive is for: in a fresh profile (no preflight cached), a track whose fetch
  // is started in the same task that leaves the page (for /left, without the SDK), so
  // its preflight and post go on with the page gone. The Rust test looks for the event
  // in the feed.
  const leaving = await open('keepalive-leaving', { deliveryStrategy: { strategy: 'standard',
    config: { keepalive: true } } })
  leaving.session.pageLeft = true
  await leaving.page.evaluate(() => {
    window.leaveOnFetch = true
    window.segment.track('Page Left', { step: 2 })
  })
  await leaving.page.waitForURL(`${pageOrigin}/left`, { timeout: DEADLINE_MS })
  const left = JSON.parse(await leaving.page.evaluate(() => sessionStorage.getItem('leftWith')))
  leaving.session.fetches = [left]
  leaving.session.calls.push({ call: 'track on leaving', type: 'track',
    messageId: left.messageIds[0] })
}

async function otherPaths() {
  // Batching: the three calls in one post to <apiHost>/b once `size` is reached.
  const batching = await open('batching', { deliveryStrategy: { strategy: 'batching',
    config: { size: 3, timeout: DEADLINE_MS * 2 } } })
  await calls(batching.call)
  await until('the batch post to be answered', settled(batching))
  await batching.readFetches()

  // Before any identify: once a user is identified, analytics-next 1.84 overwrites an
  // alias's userId with that user's id (EventFactory.addIdentity), so alias(to) would
  // arrive as <user> -> <user>. Here it ties the anonymousId (its previousId) to `to`.
  const groupAlias = await open('group-alias', {})
  await groupAlias.call('alias', 'alias', 'sg-user-2')
  await groupAlias.call('group', 'group', 'sg-team-1', { name: 'Team One' })
  await until('the group and alias posts to be answered', () =>
    settled(groupAlias)() && groupAlias.session.posts.length >= 2)
  await groupAlias.readFetches()
}

try {
  if (mode === 'delivered') await delivered()
  else if (mode === 'other-paths') await otherPaths()
  else throw new Error(`unknown mode ${mode}`)
} catch (e) {
  report.error = String(e?.stack ?? e)
}
await finish(report, browser, server)

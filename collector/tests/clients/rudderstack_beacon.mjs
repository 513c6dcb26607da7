// RudderStack's browser SDK (npm: @rudderstack/analytics-js, its "bundled" build) in beacon
// mode (`useBeacon: true`, its BeaconQueue plugin) in Debian's headless Chromium, driven by
// playwright-core, posting to a Cairn collector on another origin. Run by the beacon test
// of collector/tests/rudderstack_browser.rs:
//
//     node rudderstack_beacon.mjs <collector url> <write key>
//
// In beacon mode the SDK batches events and sends each batch with navigator.sendBeacon:
// `{batch, sentAt}` as a text/plain Blob (no preflight, no Authorization header) to
// `<dataPlaneUrl>/beacon/v1/batch?writeKey=<key>`. Offline as rudderstack_browser.mjs is
// (source config from `getSourceConfig`, bundled plugins only, other hosts unresolvable;
// see browser_support.mjs, which has the page both load). Sessions:
// - beacon: page, track, identify (an e-mail trait): one beacon of three events
//   (`beaconQueueOptions.maxItems: 3`);
// - beacon-leaving: a track stays queued (maxItems 10, a flush interval longer than the
//   test); the page is left, and the SDK tracks "Page Unloaded" (autoTrack.pageLifecycle,
//   which it only does with beacons) and sends the queue as the page goes: both events in
//   one beacon that outlives its page;
// - wrong-key: the SDK loaded with a key the collector does not know: its beacon is
//   refused (401) and nothing is stored.
// The report: calls and their messageIds, each beacon's path, query, headers, events and
// status.
import { DEADLINE_MS, finish, startRudderStack, until } from './browser_support.mjs'

const [collectorUrl, writeKey] = process.argv.slice(2)
// Longer than the test: a batch goes when it is full or when the page is left, never on time.
const NEVER_MS = DEADLINE_MS * 10

// The page's head, run before the SDK loads (the rest of the page is browser_support.mjs's
// startRudderStack, as rudderstack_browser.mjs has it).
const BEACON_LOG = `<script>
// What the SDK beaconed, kept in sessionStorage so the page it moves to can read it. Its
// bodies are Blobs, which neither playwright (postData is null) nor the page can read
// synchronously, and a beacon sent as the page goes leaves no time for an async read: so
// each Blob keeps the text it was made of.
window.beaconLog = JSON.parse(sessionStorage.getItem('beacons') ?? '[]')
const RealBlob = window.Blob
window.Blob = class extends RealBlob {
  constructor(parts = [], options) {
    super(parts, options)
    this.cairnText = parts.every((p) => typeof p === 'string') ? parts.join('') : null
  }
}
const realSendBeacon = navigator.sendBeacon.bind(navigator)
navigator.sendBeacon = (url, data) => {
  const queued = realSendBeacon(url, data)
  window.beaconLog.push({ url: String(url), queued,
    body: typeof data === 'string' ? data : data?.cairnText ?? null })
  sessionStorage.setItem('beacons', JSON.stringify(window.beaconLog))
  return queued
}
</script>
`

const { server, browser, report, pageOrigin, open } = await startRudderStack({
  collectorUrl, title: 'RudderStack beacons on Cairn', head: BEACON_LOG,
  files: { '/left': { type: 'text/html', body: '<!doctype html><title>Left</title>' } },
  loadOptions: { useBeacon: true, plugins: ['BeaconQueue'] },
  fields: { mode: 'beacon' },
})

// Each post of the session answered or failed.
const settled = (s) => () => s.session.posts.length > 0 &&
  s.session.posts.every((p) => p.status !== null || p.failure !== null)

// The beacons `page` logged (the sessionStorage of its tab), their bodies put in the
// session's posts (the n-th beacon is the n-th post) and in `session.beacons`. A beacon
// sent as its page goes is not reported by playwright (its page is gone): it becomes a
// post from the log alone, without headers or status (the Rust test finds its events in
// the feed).
async function readBeacons(s, page) {
  const log = JSON.parse(await page.evaluate(() => sessionStorage.getItem('beacons') ?? '[]'))
  s.session.beacons = log
  if (s.session.pageLeft) {
    for (const beacon of log.slice(s.session.posts.length)) {
      const url = new URL(beacon.url)
      s.session.posts.push({ path: url.pathname, query: url.search, whileDown: false,
        headers: null, status: null, failure: null, messageIds: [], events: [], fromPageLog: true })
    }
  }
  if (log.length !== s.session.posts.length) {
    throw new Error(`${log.length} beacons sent, ${s.session.posts.length} posts seen`)
  }
  log.forEach((beacon, i) => {
    const batch = JSON.parse(beacon.body ?? '{}').batch ?? []
    Object.assign(s.session.posts[i], {
      messageIds: batch.map((e) => e.messageId),
      events: batch.map((e) => ({ messageId: e.messageId, type: e.type, event: e.event })),
    })
  })
}

try {
  const beacon = await open('beacon', writeKey,
    { beaconQueueOptions: { maxItems: 3, flushQueueInterval: NEVER_MS } })
  await beacon.call('page', 'page', 'Docs', 'Install', { path: '/docs/install', section: 'cli' })
  await beacon.call('track', 'track', 'Product Added', { sku: 'RS-42', price: 19.5 })
  await beacon.call('identify', 'identify', 'rs-user-1', { email: 'rs.user@example.com', plan: 'pro' })
  await until('the beacon to be answered', settled(beacon))
  await readBeacons(beacon, beacon.page)
  if (!beacon.delivered()) throw new Error('a call is in no beacon answered 2xx')

  const leaving = await open('beacon-leaving', writeKey, {
    beaconQueueOptions: { maxItems: 10, flushQueueInterval: NEVER_MS },
    autoTrack: { pageLifecycle: { enabled: true } },
  })
  await leaving.call('queued track', 'track', 'Checkout Started', { step: 1 })
  if (leaving.session.posts.length !== 0) throw new Error('the queued track was sent before the page was left')
  leaving.session.pageLeft = true
  await leaving.page.goto(`${pageOrigin}/left`)
  // The beacon sent as the page went: the queued track and the SDK's "Page Unloaded".
  // The /left page is loaded (goto resolved), so the old page's pagehide has run.
  await readBeacons(leaving, leaving.page)
  const unloaded = leaving.session.posts.flatMap((p) => p.events)
    .find((e) => e.type === 'track' && e.event === 'Page Unloaded')
  if (!unloaded) throw new Error('no "Page Unloaded" beaconed as the page was left')
  leaving.session.calls.push({ call: 'page unloaded', type: 'track', messageId: unloaded.messageId })

  // Not in `calls`: the Rust test checks that nothing of it is stored.
  const wrong = await open('wrong-key', `${writeKey}-unknown`,
    { beaconQueueOptions: { maxItems: 1, flushQueueInterval: NEVER_MS } })
  const event = await wrong.page.evaluate(() =>
    window.rudderCall('track', 'Refused', { key: 'wrong' }))
  wrong.session.refused = event.messageId
  // Playwright does not report the answer to this beacon (the Rust test reads the
  // collector's count of unauthorized requests instead): wait for it to be sent.
  await until('the wrong-key beacon to be sent', () => wrong.session.posts.length > 0)
  await readBeacons(wrong, wrong.page)
} catch (e) {
  report.error = String(e?.stack ?? e)
}
await finish(report, browser, server)

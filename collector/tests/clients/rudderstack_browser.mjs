// RudderStack's browser SDK (npm: @rudderstack/analytics-js, its "bundled" build, so no
// plugin is fetched at run time) in Debian's headless Chromium, driven by playwright-core,
// posting to a Cairn collector on another origin. Run by collector/tests/rudderstack_browser.rs:
//
//     node rudderstack_browser.mjs <collector url> <write key>
//
// The page is served by this script from its own loopback origin (another port, so every
// post to the collector is cross-origin and preflighted). Nothing may leave loopback: the
// source config comes from `getSourceConfig`, the only plugin is XhrQueue (bundled), and
// every other host fails to resolve; a request to one is reported.
//
// Protocol with the Rust test: `cmd:kill9` / `cmd:restart` lines on stdout, answered by
// `ok` on stdin; the last stdout line is the JSON report (calls, their messageIds, the
// posts' headers and statuses, the preflights seen and the answers' allowed headers).
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { chromium } from 'playwright-core'

const [collectorUrl, writeKey] = process.argv.slice(2)
// The ESM build with every plugin bundled in (the package's "./bundled" export).
const sdkPath = fileURLToPath(import.meta.resolve('@rudderstack/analytics-js/bundled'))
const packageDir = sdkPath.slice(0, sdkPath.indexOf('/dist/'))
const { version } = JSON.parse(readFileSync(`${packageDir}/package.json`, 'utf8'))
const sdk = readFileSync(sdkPath)
const collectorOrigin = new URL(collectorUrl).origin
const DEADLINE_MS = 30_000

const stdin = createInterface({ input: process.stdin })
const replies = stdin[Symbol.asyncIterator]()
// True from `cmd:kill9` until the restart is answered: requests started meanwhile may fail.
let collectorDown = false
async function command(cmd) {
  if (cmd === 'kill9') collectorDown = true
  console.log(`cmd:${cmd}`)
  const { value } = await replies.next()
  if (value !== 'ok') throw new Error(`cmd:${cmd} answered ${value}`)
  if (cmd === 'restart') collectorDown = false
}

// Polls `condition` until it holds, failing with `what` after DEADLINE_MS.
async function until(what, condition) {
  const end = Date.now() + DEADLINE_MS
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

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

const server = createServer((req, res) => {
  if (req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
  } else if (req.url === '/sdk/analytics.mjs') {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk)
  } else if (req.url === '/favicon.ico') {
    res.writeHead(204).end()
  } else {
    res.writeHead(404).end()
  }
})
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const pageOrigin = `http://127.0.0.1:${server.address().port}`

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Every other host name fails to resolve: the SDK cannot reach a CDN even if it tried.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'],
})
const report = {
  library: '@rudderstack/analytics-js', version, sdk: sdkPath.slice(sdkPath.indexOf('dist/')),
  pageOrigin, collectorOrigin, sessions: [], offLoopback: [], pageErrors: [], consoleErrors: [],
}
const lowerKeys = (headers) =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))

// A fresh browser profile on the test page with RudderStack loaded (`queueOptions` as
// given), recording every post to the collector and every preflight into `session`.
async function open(name, queueOptions) {
  const session = { name, anonymousId: null, calls: [], posts: [], preflights: [] }
  report.sessions.push(session)
  const context = await browser.newContext()
  // Offline: anything not on loopback is reported (and cannot resolve, see the launch
  // args). No route() here: while playwright intercepts requests it answers CORS
  // preflights itself (204, allowing whatever was asked), so the collector's answers
  // would never be seen.
  context.on('request', (r) => {
    const host = new URL(r.url()).hostname
    if (host !== '127.0.0.1' && host !== 'localhost') report.offLoopback.push(r.url())
  })
  const page = await context.newPage()
  page.on('pageerror', (e) => report.pageErrors.push(`${name}: ${e}`))
  page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(`${name}: ${m.text()}`) })

  // Every post to the collector: its headers, the messageIds in its body, the answer.
  page.on('request', async (r) => {
    if (r.method() !== 'POST' || !r.url().startsWith(collectorOrigin)) return
    const post = { path: new URL(r.url()).pathname, whileDown: collectorDown, headers: null,
      status: null, failure: null, messageIds: [] }
    session.posts.push(post)
    const body = JSON.parse(r.postData() ?? 'null')
    for (const event of body?.batch ?? [body]) post.messageIds.push(event?.messageId)
    post.headers = await r.allHeaders().catch(() => r.headers())
    const response = await r.response().catch(() => null)
    if (response) post.status = response.status()
    else post.failure = r.failure()?.errorText ?? 'no response'
  })

  // Preflights are not playwright requests: DevTools reports them, initiated by "preflight".
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  const preflights = new Map()
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.initiator?.type !== 'preflight') return
    const p = { path: new URL(e.request.url).pathname, whileDown: collectorDown, method: e.request.method,
      requestHeaders: lowerKeys(e.request.headers)['access-control-request-headers'] ?? null,
      status: null, allowHeaders: null, allowOrigin: null, failure: null }
    preflights.set(e.requestId, p)
    session.preflights.push(p)
  })
  cdp.on('Network.responseReceived', (e) => {
    const p = preflights.get(e.requestId)
    if (!p) return
    const headers = lowerKeys(e.response.headers)
    p.status = e.response.status
    p.allowHeaders = headers['access-control-allow-headers'] ?? null
    p.allowOrigin = headers['access-control-allow-origin'] ?? null
  })
  cdp.on('Network.loadingFailed', (e) => {
    const p = preflights.get(e.requestId)
    if (p) p.failure = e.errorText
  })

  await page.goto(`${pageOrigin}/`)
  session.anonymousId = await page.evaluate(([k, u, q]) => window.startRudder(k, u, q),
    [writeKey, collectorUrl, queueOptions])
  const call = async (label, method, ...args) => {
    const event = await page.evaluate(([m, a]) => window.rudderCall(m, ...a), [method, args])
    session.calls.push({ call: label, type: event.type, messageId: event.messageId })
  }
  const delivered = () => {
    const ids = new Set(session.posts.filter((p) => p.status !== null && p.status < 300)
      .flatMap((p) => p.messageIds))
    return session.calls.every((c) => ids.has(c.messageId))
  }
  return { session, call, delivered }
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
} finally {
  await browser.close()
  server.close()
}
console.log(JSON.stringify(report))
process.exit(report.error ? 1 : 0)

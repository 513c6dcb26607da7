// What the browser-SDK scripts (rudderstack_browser.mjs, rudderstack_beacon.mjs,
// segment_browser.mjs) share: Debian's headless Chromium launched offline by
// playwright-core, a static page server on its own loopback origin, the kill/restart
// protocol with the Rust test, and one "session" per browser profile that records every
// post to the collector and every CORS preflight with the collector's answer. The two
// RudderStack scripts also share their test page and how it is served (startRudderStack),
// so the SDK is loaded the same way in both and only the mode's options differ.
//
// Offline: every host but 127.0.0.1/localhost fails to resolve (host-resolver rules),
// and any request to another host is reported in `report.offLoopback`.
//
// Preflights are read from DevTools, never through playwright's route(): while playwright
// intercepts requests it answers CORS preflights itself (204, allowing whatever was
// asked), so the collector's answers would never be seen.
//
// Protocol with the Rust test (tests/browser_support/mod.rs): `cmd:kill9` / `cmd:restart`
// lines on stdout, answered by `ok` on stdin; the last stdout line is the JSON report.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const DEADLINE_MS = 30_000

// Polls `condition` until it holds, failing with `what` after DEADLINE_MS.
export async function until(what, condition) {
  const end = Date.now() + DEADLINE_MS
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const replies = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
// `down` is true from `cmd:kill9` until the restart is answered: requests started
// meanwhile may fail, and are marked `whileDown`.
export const collector = { down: false }
export async function command(cmd) {
  if (cmd === 'kill9') collector.down = true
  console.log(`cmd:${cmd}`)
  const { value } = await replies.next()
  if (value !== 'ok') throw new Error(`cmd:${cmd} answered ${value}`)
  if (cmd === 'restart') collector.down = false
}

// Serves `files` (path -> { type, body }) on a free loopback port; resolves with the
// server and its origin.
export async function servePage(files) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    const file = files[path]
    if (file) res.writeHead(200, { 'content-type': file.type }).end(file.body)
    else if (path === '/favicon.ico') res.writeHead(204).end()
    else res.writeHead(404).end()
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { server, origin: `http://127.0.0.1:${server.address().port}` }
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // Every other host name fails to resolve: an SDK cannot reach a CDN even if it tried.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'],
  })
}

// The report both scripts print: what they ran, and what went wrong on the pages.
export function newReport(fields) {
  return { ...fields, sessions: [], offLoopback: [], pageErrors: [], consoleErrors: [] }
}

const lowerKeys = (headers) =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))

// A fresh browser profile (context) on `url`, recording into a new session of `report`:
// every post to `collectorOrigin` (path, query, headers, messageIds and each event's type
// and track name of its body, status or failure) and every preflight (the headers it asked for,
// the answer's status, allowed headers and origin, or its failure).
export async function openSession(browser, report, name, url, collectorOrigin) {
  // `pageLeft`: set by a script that leaves the page with requests in flight.
  const session = { name, anonymousId: null, calls: [], posts: [], preflights: [], pageLeft: false }
  report.sessions.push(session)
  const context = await browser.newContext()
  context.on('request', (r) => {
    const host = new URL(r.url()).hostname
    if (host !== '127.0.0.1' && host !== 'localhost') report.offLoopback.push(r.url())
  })
  const page = await context.newPage()
  page.on('pageerror', (e) => report.pageErrors.push(`${name}: ${e}`))
  page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(`${name}: ${m.text()}`) })

  page.on('request', async (r) => {
    if (r.method() !== 'POST' || !r.url().startsWith(collectorOrigin)) return
    const url = new URL(r.url())
    // `query`: RudderStack's beacon posts carry the write key there.
    const post = { path: url.pathname, query: url.search, whileDown: collector.down, headers: null,
      status: null, failure: null, messageIds: [], events: [] }
    session.posts.push(post)
    let body = null
    try { body = JSON.parse(r.postData() ?? 'null') } catch { post.unparsed = r.postData() }
    for (const event of body?.batch ?? [body]) {
      post.messageIds.push(event?.messageId)
      post.events.push({ messageId: event?.messageId, type: event?.type, event: event?.event })
    }
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
    const p = { path: new URL(e.request.url).pathname, whileDown: collector.down, method: e.request.method,
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

  await page.goto(url)
  // Every call's messageId is in a post the collector answered 2xx.
  const delivered = () => {
    const ids = new Set(session.posts.filter((p) => p.status !== null && p.status < 300)
      .flatMap((p) => p.messageIds))
    return session.calls.every((c) => ids.has(c.messageId))
  }
  return { session, page, context, delivered }
}

// Closes everything and prints the report (last stdout line); exits 1 on an error.
export async function finish(report, browser, server) {
  await browser.close().catch(() => {})
  server.close()
  console.log(JSON.stringify(report))
  process.exit(report.error ? 1 : 0)
}

// The RudderStack test page: `head` (markup run before the SDK, such as a classic script,
// or nothing), then a module that loads the SDK from /sdk/analytics.mjs and defines
// window.startRudder(writeKey, dataPlaneUrl, options), which resolves with the anonymous id
// once the SDK calls onLoaded, and window.rudderCall(method, ...args), which resolves
// with the event the SDK enqueued (its callback's argument). The load is offline: the
// source config comes from `getSourceConfig`, no polyfill, and the destination and plugin
// base URLs are on the page's own origin (nothing is served there); `options` are the
// mode's (plugins, queue options, useBeacon, ...) and may override any of these.
function rudderStackPage(title, head) {
  return `<!doctype html><meta charset="utf-8"><title>${title}</title>
${head}<script type="module">
import { RudderAnalytics } from '/sdk/analytics.mjs'
window.startRudder = (writeKey, dataPlaneUrl, options) => new Promise((resolve, reject) => {
  const analytics = new RudderAnalytics()
  window.analytics = analytics
  analytics.load(writeKey, dataPlaneUrl, {
    // The source config a RudderStack control plane would serve: enabled, no destinations.
    getSourceConfig: () => ({
      source: { id: 'cairn-test-source', name: 'Cairn test', workspaceId: 'cairn', enabled: true,
        config: {}, destinations: [] },
    }),
    polyfillIfRequired: false,
    destSDKBaseURL: location.origin + '/no-destinations',
    pluginsSDKBaseURL: location.origin + '/no-plugins',
    ...options,
    onLoaded: () => resolve(analytics.getAnonymousId()),
  })
  setTimeout(() => reject(new Error('RudderStack did not call onLoaded')), ${DEADLINE_MS})
})
window.rudderCall = (method, ...args) => new Promise((resolve, reject) => {
  window.analytics[method](...args, (event) => resolve(event))
  setTimeout(() => reject(new Error(method + ': RudderStack never called back')), ${DEADLINE_MS})
})
</script>`
}

// Starts a RudderStack script: serves the test page (rudderStackPage with `title` and
// `head`) at / and the SDK's "bundled" ESM build (npm: @rudderstack/analytics-js, every
// plugin in it, so none is fetched at run time) at /sdk/analytics.mjs, with `files`
// besides; launches Chromium; starts the report with the SDK's version and `fields`.
// `open(name, writeKey, options)` opens a session (openSession) on the page with the SDK
// loaded against `collectorUrl` with `loadOptions` and `options` (these win), and gives it
// `call(label, method, ...args)`, which makes the call and records it in `session.calls`.
export async function startRudderStack({ collectorUrl, title, head = '', files = {}, loadOptions = {},
  fields = {} }) {
  const sdkPath = fileURLToPath(import.meta.resolve('@rudderstack/analytics-js/bundled'))
  const packageDir = sdkPath.slice(0, sdkPath.indexOf('/dist/'))
  const { version } = JSON.parse(readFileSync(`${packageDir}/package.json`, 'utf8'))
  const collectorOrigin = new URL(collectorUrl).origin
  const { server, origin: pageOrigin } = await servePage({
    '/': { type: 'text/html', body: rudderStackPage(title, head) },
    '/sdk/analytics.mjs': { type: 'text/javascript', body: readFileSync(sdkPath) },
    ...files,
  })
  const browser = await launch()
  const report = newReport({
    library: '@rudderstack/analytics-js', version, sdk: sdkPath.slice(sdkPath.indexOf('dist/')),
    pageOrigin, collectorOrigin, ...fields,
  })
  async function open(name, writeKey, options = {}) {
    const s = await openSession(browser, report, name, `${pageOrigin}/`, collectorOrigin)
    s.session.anonymousId = await s.page.evaluate(([k, u, o]) => window.startRudder(k, u, o),
      [writeKey, collectorUrl, { ...loadOptions, ...options }])
    s.call = async (label, method, ...args) => {
      const event = await s.page.evaluate(([m, a]) => window.rudderCall(m, ...a), [method, args])
      s.session.calls.push({ call: label, type: event.type, messageId: event.messageId })
    }
    return s
  }
  return { server, browser, report, pageOrigin, open }
}

// Posts one of each Segment call to a Cairn collector with Segment's own Node library
// (npm: @segment/analytics-node, installed into ./node_modules from package.json).
// Run by collector/tests/segment_client.rs:
//
//     node segment_node.mjs <collector url> <write key> <message id prefix>
//
// Prints one JSON line: the library, every error it reported and the HTTP statuses it
// saw. Exits 1 when the library reported any error.
import { Analytics } from '@segment/analytics-node'
import { createRequire } from 'node:module'

const [url, writeKey, prefix] = process.argv.slice(2)
const { version } = createRequire(import.meta.url)('@segment/analytics-node/package.json')
const errors = []
const statuses = []

const analytics = new Analytics({
  writeKey,
  host: url,
  path: '/v1/batch',
  maxRetries: 0,
  flushAt: 20,
  flushInterval: 200,
  httpRequestTimeout: 10000,
})
analytics.on('error', (error) => errors.push({ error: String(error?.reason ?? error?.message ?? error) }))
analytics.on('http_response', (r) => statuses.push(r.status))

const done = (messageId) => (error) => {
  if (error) errors.push({ messageId, error: String(error?.reason ?? error) })
}
const id = (name) => prefix + name

analytics.track(
  {
    userId: 'node-user-1',
    anonymousId: 'node-anon-1',
    event: 'Product Added',
    properties: { sku: 'SKU-7', price: 4.25, tags: ['x'] },
    messageId: id('track'),
  },
  done(id('track')),
)
analytics.identify(
  {
    userId: 'node-user-1',
    anonymousId: 'node-anon-1',
    traits: { email: 'node.user@example.com', phone: '+1 555 010 9999', plan: 'team' },
    messageId: id('identify'),
  },
  done(id('identify')),
)
analytics.page(
  { userId: 'node-user-1', category: 'Docs', name: 'Install', properties: { path: '/docs/install' }, messageId: id('page') },
  done(id('page')),
)
analytics.screen(
  { userId: 'node-user-1', name: 'Basket', properties: { items: 2 }, messageId: id('screen') },
  done(id('screen')),
)
analytics.group(
  { userId: 'node-user-1', groupId: 'node-group-1', traits: { name: 'Initech', seats: 3 }, messageId: id('group') },
  done(id('group')),
)
analytics.alias({ userId: 'node-user-1', previousId: 'node-old-id', messageId: id('alias') }, done(id('alias')))

await analytics.closeAndFlush({ timeout: 20000 })
if (statuses.length === 0) errors.push({ error: 'the library sent no request' })
for (const status of statuses) if (status !== 200) errors.push({ error: `HTTP ${status}` })
console.log(JSON.stringify({ library: '@segment/analytics-node', version, statuses, errors }))
process.exit(errors.length ? 1 : 0)

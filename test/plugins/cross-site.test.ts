// Issue 18 item 10: a page on another origin cannot change anything. Real Chromium (Debian's, via
// playwright-core) on a page served from another origin sends a no-cors POST to unload a model and
// a form POST to load one — what a browser sends without a preflight; calserve (loopback, no
// admin token, the `npm start` default) refuses both and the model stays READY with no directive
// stored. The dashboard's own page, same-origin, still unloads.
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { crossSiteReason } from '../../src/plugins/auth.js'
import { build, tempDir } from '../helper.js'

const CHROMIUM = '/usr/bin/chromium'

t.test('crossSiteReason: Sec-Fetch-Site first, else Origin against Host', async (t) => {
  t.equal(crossSiteReason({ 'sec-fetch-site': 'same-origin', origin: 'http://elsewhere' }), null)
  t.equal(crossSiteReason({ 'sec-fetch-site': 'none' }), null)
  t.match(crossSiteReason({ 'sec-fetch-site': 'cross-site' }), /cross-site/)
  t.match(crossSiteReason({ 'sec-fetch-site': 'same-site' }), /same-site/, 'another port of the same host is another origin')
  t.equal(crossSiteReason({}), null, 'curl and the CLI send neither')
  t.equal(crossSiteReason({ origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' }), null)
  t.match(crossSiteReason({ origin: 'http://127.0.0.1:3000', host: '127.0.0.1:8080' }), /not this server/)
  t.equal(crossSiteReason({ origin: 'https://calserve.example:8443', host: 'calserve.example' }), null, "nginx's $host has no port")
  t.match(crossSiteReason({ origin: 'null', host: '127.0.0.1:8080' }), /not an origin|not this server/)
})

t.test('inject: a write with a foreign Origin or Sec-Fetch-Site is 403, even with no admin token configured', async (t) => {
  const app = await build(t)
  const unload = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload', headers })
  const cross = await unload({ 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' })
  t.equal(cross.statusCode, 403)
  t.match(cross.json().error, { code: 'CALSERVE_FORBIDDEN', details: { reason: 'cross-site' } })
  t.equal((await unload({ origin: 'http://evil.example', host: 'localhost:80' })).statusCode, 403)
  const put = await app.inject({ method: 'PUT', url: '/v1/models/tiny/calibration', headers: { 'sec-fetch-site': 'same-site' }, payload: { gamma: 1 } })
  t.equal(put.statusCode, 403)
  t.equal((await app.inject('/v1/models/tiny/calibration')).json().version, 0, 'nothing was written')
  t.equal(app.models.list().find((m) => m.name === 'tiny')?.state, 'READY')
  t.equal((await unload({})).statusCode, 200, 'a client that is not a browser still unloads')
})

t.test('in chromium: a page on another origin can neither unload nor load', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing` }, async (t) => {
  const app = await build(t, { CALSERVE_HOST: '127.0.0.1' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port
  const target = `http://127.0.0.1:${port}`
  // The attacker's page: another port (same site, other origin) and another host name (cross-site).
  const page = `<!doctype html><body><form id="f" method="POST" action="${target}/v2/repository/models/image/load"></form><script>
    window.done = Promise.allSettled([
      fetch('${target}/v2/repository/models/tiny/unload', { method: 'POST', mode: 'no-cors' }),
      fetch('${target}/v1/models/tiny/calibration', { method: 'PUT', mode: 'no-cors', body: '{"gamma":5}' }),
    ]).then(() => 'sent')
  </script></body>`
  const evil: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page))
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => evil.close(() => r())))
  const evilPort = (evil.address() as AddressInfo).port

  const { chromium } = await import('playwright-core')
  const context = await chromium.launchPersistentContext(tempDir(t, 'calserve-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
  t.teardown(() => context.close())
  const tab = context.pages()[0] ?? (await context.newPage())
  const answers: Array<{ url: string; status: number }> = []
  tab.on('response', (r) => answers.push({ url: r.url(), status: r.status() }))

  for (const origin of [`http://127.0.0.1:${evilPort}`, `http://localhost:${evilPort}`]) {
    await tab.goto(`${origin}/`)
    t.equal(await tab.evaluate('window.done'), 'sent', `${origin}: the page sent its requests`)
    // The form navigates the tab to calserve's answer.
    await Promise.all([tab.waitForNavigation(), tab.evaluate(() => (document.getElementById('f') as HTMLFormElement).submit())])
    t.equal(answers.at(-1)?.status, 403, `${origin}: the form POST was refused`)
  }
  t.same(
    app.models.list().filter((m) => m.name === 'tiny' || m.name === 'image').map((m) => m.state),
    ['READY', 'READY'],
    'both models still serve',
  )
  t.same(await app.store.modelDirectives(), [], 'no directive was stored')
  t.equal((await app.inject('/v1/models/tiny/calibration')).json().version, 0, 'no calibration was written')

  // The same browser on calserve's own origin (the dashboard's case) still changes things.
  await tab.goto(`${target}/ui`)
  const status = await tab.evaluate(async (url) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, `${target}/v2/repository/models/tiny/unload`)
  t.equal(status, 200, 'same-origin unload')
})

// `calserve calibration set|history|rollback` through the real bin against a real server (fixture
// models, admin tokens set, a real SQLite file).
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer, connect, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { start, waitReady } from '../e2e/process.js'
import { tempDir } from '../helper.js'
import { calserve } from './bin.js'

const ADMIN = 'cli-admin-token'

t.test('calibration set, history and rollback', async (t) => {
  const dir = tempDir(t)
  const server = await start(t, { CALSERVE_STORE_URL: `sqlite:${join(dir, 'calserve.db')}`, CALSERVE_ADMIN_TOKENS: `ops:${ADMIN}`, CALSERVE_LOG_LEVEL: 'warn' })
  await waitReady(server)
  const env = { CALSERVE_URL: server.url }
  const admin = { ...env, CALSERVE_TOKEN: ADMIN }
  const cli = (args: string[], e: Record<string, string> = admin) => calserve(['calibration', ...args, '--model', 'tiny'], e)
  const active = async () =>
    (await fetch(`${server.url}/v1/models/tiny/calibration`)).json() as Promise<{ version: number; gamma: number; note: string | null }>

  const set = await cli(['set', '--gamma', '0.75', '--note', 'by hand'])
  t.equal(set.code, 0, set.stderr)
  t.match(set.stdout, /^version\s+1$/m)
  t.match(set.stdout, /^γ\s+0\.75$/m)
  t.match(set.stdout, /^by\s+ops$/m, 'the token’s name is recorded')
  t.match(await active(), { version: 1, gamma: 0.75, note: 'by hand' })

  const refused = await cli(['set', '--gamma', '1'], env)
  t.equal(refused.code, 1)
  t.match(refused.stderr, /^calserve: CALSERVE_UNAUTHORIZED: /m, 'no token: the server’s 401 in one line')

  const stale = await cli(['set', '--gamma', '2', '--expected-version', '0'])
  t.equal(stale.code, 1)
  t.match(stale.stderr, /CALSERVE_VERSION_CONFLICT/)
  t.equal((await active()).version, 1, 'nothing written')

  for (let g = 2; g <= 5; g++) t.equal((await cli(['set', '--gamma', String(g), '--temperature', '2'])).code, 0)
  const rb = await cli(['rollback', '--version', '1', '--expected-version', '5'])
  t.equal(rb.code, 0, rb.stderr)
  t.match(rb.stdout, /^version\s+6$/m)
  t.match(rb.stdout, /^method\s+rollback of version 1$/m)
  t.match(await active(), { version: 6, gamma: 0.75 })

  const page = await cli(['history', '--limit', '4'], env)
  t.equal(page.code, 0, page.stderr)
  const rows = page.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l))
  t.same(
    rows.map((l) => Number(l.trim().split(/\s+/)[0])),
    [6, 5, 4, 3],
    'the newest four',
  )
  t.match(page.stdout, /^more: calserve calibration history --model tiny --before 3$/m, 'how to get the next page')
  const rest = await cli(['history', '--limit', '4', '--before', '3', '--json'], env)
  t.equal(rest.code, 0, rest.stderr)
  const json = JSON.parse(rest.stdout) as { versions: Array<{ version: number }>; next: number | null }
  t.same(
    json.versions.map((r) => r.version),
    [2, 1],
  )
  t.equal(json.next, null)

  const missing = await cli(['rollback', '--version', '99'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /CALSERVE_VERSION_NOT_FOUND/)

  // (Not calibration, but the same server: one sample is "1 sample", not "1 samples".)
  const one = await calserve(['predict', '--model', 'tiny', '--input', '[1, 0.5, 0.25]'], env)
  t.equal(one.code, 0, one.stderr)
  t.match(one.stdout, /^1 sample · tiny v2 · calibration 6 /m, 'predict of one sample says "1 sample"')

  // calserve fit learns that its token is refused before it uploads the set.
  // A proxy in front of the server counts the bytes the CLI sends.
  const fitSet = join(dir, 'set.ndjson')
  const labels = ['cat', 'dog', 'bird', 'fish']
  const lines = Array.from({ length: 100_000 }, (_, i) => JSON.stringify({ input: [i % 7, (i * 3) % 5, i % 2], label: labels[i % 4] }))
  writeFileSync(fitSet, lines.join('\n') + '\n')
  let sent = 0
  const proxy = createServer((client) => {
    const upstream = connect(server.port, '127.0.0.1')
    client.on('data', (b: Buffer) => (sent += b.length))
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  t.teardown(() => proxy.close())
  const viaProxy = { CALSERVE_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }
  const fitAs = async (token?: string) => {
    sent = 0
    const r = await calserve(['fit', '--model', 'tiny', '--data', fitSet, '--dry-run'], token === undefined ? viaProxy : { ...viaProxy, CALSERVE_TOKEN: token })
    return { ...r, sent }
  }
  const anonymous = await fitAs()
  const wrong = await fitAs('not-a-token')
  const right = await fitAs(ADMIN)
  for (const r of [anonymous, wrong]) t.ok(r.sent < 100_000, `refused before the ${lines.length}-line set was sent (${r.sent} bytes sent)`)
  t.ok(right.sent > 1_000_000, `with the admin token the set is sent (${right.sent} bytes)`)
  t.equal(anonymous.code, 1)
  t.match(anonymous.stderr, /^calserve: CALSERVE_UNAUTHORIZED: /m)
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, /^calserve: CALSERVE_FORBIDDEN: /m)
  t.equal(right.code, 0, right.stderr)
  t.match(right.stderr, /uploading set\.ndjson: 100%/)
  t.match(right.stdout, /^samples\s+100000 /m)
  t.equal((await active()).version, 6, 'the access check stored nothing')

  const usage = await Promise.all([
    cli(['history', '--gamma', '1'], env),
    cli(['set'], env),
    cli(['set', '--gamma', 'abc'], env),
    cli(['undo'], env),
    calserve(['calibration'], env),
  ])
  for (const u of usage) t.equal(u.code, 2, `usage error: ${u.stderr.split('\n')[0]}`)
  t.match(usage[0].stderr, /--gamma does not apply to 'calibration history'/)
  t.match(usage[1].stderr, /--gamma is required/)
  t.match(usage[2].stderr, /--gamma must be a number, not 'abc'/)
  t.match(usage[3].stderr, /unknown action 'undo'/)
})

// Crash safety of calibration writes, on SQLite and on PostgreSQL. The real process takes a stream
// of PUTs (each with expected_version = the last version it acknowledged); at a random moment it
// is killed with SIGKILL; it restarts on the same store. Then: an active version exists, it is the
// last acknowledged write or a later one; every acknowledged version holds exactly the γ (and
// note) it was acknowledged with; every stored version is one some writer sent, whole; the
// history is 1..max with no gap. Several rounds on one store: a single sequential writer, a
// burst of writes, and concurrent writers racing on expected_version.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { call, start, waitReady, type Server } from '../e2e/process.js'
import { tempDir } from '../helper.js'
import { mulberry32 } from '../support/random.js'
import { BASE_URL, freshSchemaUrl, reachable } from '../pg.js'

const MODEL = '/v1/models/tiny/calibration'

/** What the writers sent and what the server acknowledged, over every round on one store. */
interface Ledger {
  /** note → γ of every PUT ever sent (acknowledged or not). */
  sent: Map<string, number>
  /** version → {γ, note} of every 200. */
  acked: Map<number, { gamma: number; note: string }>
  lastAcked: number
}

/** The seed of this run's mulberry32, printed per round: CALSERVE_CRASH_SEED replays a failure. */
const SEED = Number(process.env.CALSERVE_CRASH_SEED ?? Date.now() % 1_000_000)

async function put(server: Server, body: Record<string, unknown>): Promise<{ status: number; json: any } | { error: string }> {
  try {
    const res = await fetch(`${server.url}${MODEL}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    })
    return { status: res.status, json: await res.json().catch(() => null) }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

/**
 * One writer: PUTs with expected_version = what it last knew until the process dies (or `stop`).
 * A 409 tells it the active version; a 200 is recorded in the ledger.
 */
async function writer(server: Server, ledger: Ledger, id: string, dead: () => boolean, t: Test): Promise<number> {
  let known = ledger.lastAcked
  let n = 0
  let seq = 0
  while (!dead()) {
    seq++
    const note = `${id}-${seq}`
    // A γ that is not a short decimal, unique per request, so a swap or a torn value shows.
    const gamma = (ledger.sent.size + 1) * 0.1 + 1 / 3 + (id.charCodeAt(id.length - 1) % 7) * 1e-9
    ledger.sent.set(note, gamma)
    const res = await put(server, { gamma, expected_version: known, note })
    if ('error' in res) break // the process died under this request: it may or may not have landed
    if (res.status === 200) {
      const v = res.json.version as number
      if (ledger.acked.has(v)) t.fail(`version ${v} acknowledged twice: ${JSON.stringify(ledger.acked.get(v))} and ${note}`)
      ledger.acked.set(v, { gamma: res.json.gamma, note })
      if (!Object.is(res.json.gamma, gamma)) t.fail(`acknowledged γ ${res.json.gamma} for ${note}, sent ${gamma}`)
      ledger.lastAcked = Math.max(ledger.lastAcked, v)
      known = v
      n++
    } else if (res.status === 409) {
      known = res.json.error.details.active_version
    } else if (res.status === 503 || res.status === 500) {
      // The store may refuse while the process is being killed; anything else is a failure.
      if (!dead()) t.fail(`PUT answered ${res.status}: ${JSON.stringify(res.json)}`)
      break
    } else {
      t.fail(`PUT answered ${res.status}: ${JSON.stringify(res.json)}`)
      break
    }
  }
  return n
}

/** After a restart: the store holds every acknowledged write, whole, and nothing else. */
async function verify(t: Test, server: Server, ledger: Ledger, round: string): Promise<void> {
  const active = await call(server, 'GET', MODEL)
  t.equal(active.status, 200, `${round}: GET calibration ${active.text.slice(0, 200)}`)
  // The history comes in pages: walk them all.
  const versions: Array<{ version: number; gamma: number; note: string; method: string; temperature: number }> = []
  for (let before: number | null | undefined = undefined; ;) {
    const history = await call(server, 'GET', `${MODEL}/history?limit=500${before ? `&before=${before}` : ''}`)
    t.equal(history.status, 200, `${round}: GET history`)
    versions.push(...(history.json.versions as typeof versions))
    before = history.json.next as number | null
    if (before === null || before === undefined) break
  }
  const max = versions.length
  t.same(
    versions.map((v) => v.version),
    Array.from({ length: max }, (_, i) => max - i),
    `${round}: history is versions ${max}..1 with no gap`,
  )
  t.ok(
    active.json.version >= ledger.lastAcked && active.json.version > 0,
    `${round}: active version ${active.json.version} ≥ last acknowledged ${ledger.lastAcked}`,
  )
  t.equal(active.json.version, max, `${round}: the newest version is active`)
  let lost = 0
  for (const [v, want] of ledger.acked) {
    const got = versions.find((r) => r.version === v)
    if (!got || !Object.is(got.gamma, want.gamma) || got.note !== want.note) {
      lost++
      t.fail(`${round}: acknowledged version ${v} (${want.note}, γ ${want.gamma}) reads back as ${JSON.stringify(got)}`)
    }
  }
  t.equal(lost, 0, `${round}: all ${ledger.acked.size} acknowledged versions read back exactly`)
  let torn = 0
  for (const r of versions) {
    const sent = ledger.sent.get(r.note)
    if (sent === undefined || !Object.is(sent, r.gamma) || r.method !== 'manual' || r.temperature !== 1) {
      torn++
      t.fail(`${round}: version ${r.version} is not a whole record any writer sent: ${JSON.stringify(r)}`)
    }
  }
  t.equal(torn, 0, `${round}: every stored version is a whole record that was sent`)
  const unacked = versions.filter((r) => !ledger.acked.has(r.version)).map((r) => r.version)
  t.comment(`${round}: ${ledger.acked.size} acknowledged, ${max} stored (${unacked.length} landed without an answer: ${unacked.join(',') || 'none'})`)
  // What a restart reads is what it serves.
  const predict = await call(server, 'POST', '/v1/models/tiny/predict', { inputs: [[1, 2, 3]] })
  t.equal(predict.json?.calibration?.version, max, `${round}: predict applies version ${max}`)
}

interface Round {
  name: string
  writers: number
  /** How long the writers run before the kill: [min, max) ms. */
  killAfter: [number, number]
}

const ROUNDS: Round[] = [
  { name: 'sequential writer', writers: 1, killAfter: [300, 1500] },
  { name: 'write burst, early kill', writers: 1, killAfter: [20, 200] },
  { name: 'concurrent writers', writers: 4, killAfter: [300, 1500] },
  { name: 'concurrent writers, short', writers: 6, killAfter: [50, 400] },
]

async function crashRounds(t: Test, storeUrl: string, kind: string): Promise<void> {
  const random = mulberry32(SEED + kind.length)
  const ledger: Ledger = { sent: new Map(), acked: new Map(), lastAcked: 0 }
  const env = { CALSERVE_STORE_URL: storeUrl, CALSERVE_LOG_LEVEL: 'warn' }
  t.comment(`${kind}: seed ${SEED}`)
  let totalKills = 0
  for (const round of ROUNDS) {
    const server = await start(t, env)
    await waitReady(server)
    if (ledger.lastAcked > 0) await verify(t, server, ledger, `${kind}, before ${round.name}`)
    let killed = false
    const dead = () => killed
    const wait = round.killAfter[0] + random() * (round.killAfter[1] - round.killAfter[0])
    const writers = Array.from({ length: round.writers }, (_, i) => writer(server, ledger, `${kind}-${round.name}-w${i}`, dead, t))
    await new Promise((r) => setTimeout(r, wait))
    killed = true
    server.proc.kill('SIGKILL')
    const exit = await server.exited
    t.equal(exit.signal, 'SIGKILL', `${kind}, ${round.name}: killed after ${Math.round(wait)} ms`)
    const acks = (await Promise.all(writers)).reduce((a, b) => a + b, 0)
    totalKills++
    t.comment(`${kind}, ${round.name}: ${acks} writes acknowledged in this round before the kill`)

    const again = await start(t, env)
    await waitReady(again)
    await verify(t, again, ledger, `${kind}, after ${round.name}`)
    again.proc.kill('SIGKILL')
    await again.exited
  }
  t.ok(ledger.acked.size > 0, `${kind}: ${totalKills} kills, ${ledger.acked.size} acknowledged writes in all`)
}

t.test('SQLite: SIGKILL during calibration writes loses nothing acknowledged and tears nothing', async (t) => {
  const file = join(tempDir(t, 'calserve-crash-'), 'calserve.db')
  await crashRounds(t, `sqlite:${file}`, 'sqlite')
})

const pgDown = await reachable()
t.test(
  'PostgreSQL: SIGKILL during calibration writes loses nothing acknowledged and tears nothing',
  { skip: pgDown ? `PostgreSQL not reachable at ${BASE_URL}: ${pgDown}` : false },
  async (t) => {
    await crashRounds(t, freshSchemaUrl(t).url, 'postgres')
  },
)

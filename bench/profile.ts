// Summarizes a V8 CPU profile (from `npm run bench -- --cpu-prof`, in bench/tmp/profiles/) by where
// the self time went: the top functions and a breakdown by package or calserve folder.
//
//   npx tsx bench/profile.ts bench/tmp/profiles/cnn-calserve/CPU.*.0.001.cpuprofile [--top 25] [--skip 4]
//
// The main thread's profile is the one whose name has thread id 0. --skip S leaves out the first S
// seconds (start-up: module loading and compiling would otherwise take a quarter of the profile).
// Native writeString is fs.writeSync of a string (pino's log lines to stdout as a file or pipe);
// native writev is the HTTP responses' socket writes.
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' }, skip: { type: 'string', default: '0' } }, allowPositionals: true })
if (positionals.length === 0) {
  process.stderr.write('usage: npx tsx bench/profile.ts FILE.cpuprofile... [--top 25] [--skip SECONDS]\n')
  process.exit(2)
}

/** The package (node_modules/<pkg>), the calserve folder (src/<dir>), node's internals, or V8's own categories. */
function bucket(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : `(native) ${name || 'anonymous'}`
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)
  if (pkg) return pkg[1]!
  const src = url.match(/\/src\/([^/]+)(\/[^/]+)?/)
  if (src) return src[2] ? `src/${src[1]}/` : `src/${src[1]}`
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`
  return url.split('/').slice(-2).join('/')
}

/** What the per-request cost is spent on, by package or folder (first match wins). */
const CATEGORIES: Array<[string, RegExp]> = [
  ['logging (pino)', /^(pino|@pinojs\/.*|sonic-boom|pino-std-serializers|thread-stream|\(native\) (writeString|fsync))$/],
  ['validation (zod)', /^(zod|fastify-type-provider-zod)$/],
  ['JSON parse (secure-json-parse, JSON.parse)', /^(secure-json-parse|\(native\) parse)$/],
  ['JSON serialize', /^(fast-json-stringify|\(native\) stringify)$/],
  ['metrics (prom-client, src/plugins/metrics)', /^(prom-client|tdigest|bintrees)$/],
  ['onnxruntime', /^(onnxruntime-node|onnxruntime-common|\(native\) run)$/],
  ['calserve src/', /^src\//],
  ['Fastify + node http', /^(fastify|find-my-way|avvio|light-my-request|@fastify\/.*|fastify-plugin|fast-querystring|toad-cache|node:_http.*|node:net|node:stream|node:internal|node:events|node:buffer|\(native\) (writev|writeUtf8String|writeBuffer))$/],
  ['garbage collector', /^\(garbage collector\)$/],
]

for (const file of positionals) {
  const p = JSON.parse(await readFile(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  let total = 0
  let clock = 0
  const skipUs = Number(values.skip) * 1e6
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0
    clock += dt
    if (clock < skipUs) return
    self.set(id, (self.get(id) ?? 0) + dt)
    total += dt
  })
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0)
  const busy = total - idle
  const fns = new Map<string, number>()
  const buckets = new Map<string, number>()
  for (const [id, t] of self) {
    const n = byId.get(id)!
    const { functionName, url, lineNumber } = n.callFrame
    if (functionName === '(idle)') continue
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')}:${lineNumber + 1}` : ''}`
    fns.set(key, (fns.get(key) ?? 0) + t)
    const b = bucket(url, functionName)
    buckets.set(b, (buckets.get(b) ?? 0) + t)
  }
  const pct = (t: number) => `${((t / busy) * 100).toFixed(1).padStart(5)}%`
  // calserve's metrics plugin is its own category, not "calserve src/".
  const metricsSelf = [...self].filter(([id]) => /src\/plugins\/metrics/.test(byId.get(id)!.callFrame.url)).reduce((a, [, t]) => a + t, 0)
  const cats = new Map<string, number>()
  for (const [b, t] of buckets) {
    const cat = CATEGORIES.find(([, re]) => re.test(b))?.[0] ?? 'other'
    cats.set(cat, (cats.get(cat) ?? 0) + t)
  }
  const metricsCat = CATEGORIES[4]![0]
  cats.set(metricsCat, (cats.get(metricsCat) ?? 0) + metricsSelf)
  cats.set('calserve src/', (cats.get('calserve src/') ?? 0) - metricsSelf)
  process.stdout.write(`\n${file}: ${(total / 1e6).toFixed(2)} s sampled, ${((idle / total) * 100).toFixed(1)}% idle; shares of the busy time:\n\nby kind of work:\n`)
  for (const [c, t] of [...cats].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${pct(t)}  ${c}\n`)
  process.stdout.write(`\nby package / folder:\n`)
  for (const [b, t] of [...buckets].sort((a, b) => b[1] - a[1]).slice(0, 30)) process.stdout.write(`  ${pct(t)}  ${b}\n`)
  process.stdout.write(`\ntop functions (self time):\n`)
  for (const [f, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) process.stdout.write(`  ${pct(t)}  ${f}\n`)
}

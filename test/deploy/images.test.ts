// The Dockerfile, docker-compose.yml, the pruning script the images run, and the npm settings
// that keep `npm ci` quiet. No Docker engine runs here: these read the files and run the parts
// that run outside Docker (README, "Docker", says what was run by hand).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import t from 'tap'
import { CONFIG_VARIABLES } from '../../src/config.js'
import { tempDir } from '../helper.js'
import { calserveVariables, parseYaml, REPO_ROOT, type Doc } from './manifests.js'

const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8')
const dockerfile = read('Dockerfile')
const compose = parseYaml(read('docker-compose.yml'), 'docker-compose.yml')[0]!.doc
const pkg = JSON.parse(read('package.json')) as Doc
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, Doc> }

/** The Dockerfile's stages in order: name, base image and their lines. */
function stages(): Array<{ name: string; from: string; lines: string[] }> {
  const out: Array<{ name: string; from: string; lines: string[] }> = []
  const joined = dockerfile.replace(/\\\n\s*/g, ' ')
  for (const line of joined.split('\n').map((l) => l.trim())) {
    const m = /^FROM (\S+)(?: AS (\S+))?$/i.exec(line)
    if (m) out.push({ from: m[1]!, name: m[2] ?? '', lines: [] })
    else if (line && !line.startsWith('#') && out.length) out.at(-1)!.lines.push(line)
  }
  return out
}
const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(dockerfile)?.[1]

t.test('Dockerfile: a CPU default and a CUDA target, both non-root with calserve on the PATH', async (t) => {
  const all = stages()
  const byName = Object.fromEntries(all.map((s) => [s.name, s]))
  t.equal(all.at(-1)!.name, 'cpu', 'the last stage, the default target, is the CPU image')
  t.ok(byName.cuda, 'a cuda target')
  for (const name of ['cpu', 'cuda']) {
    const s = byName[name]!
    const user = s.lines.find((l) => l.startsWith('USER '))
    t.ok(user && !/^USER (root|0)\b/.test(user), `${name}: runs as ${user}`)
    t.ok(
      s.lines.some((l) => l.includes('> /usr/local/bin/calserve') && l.includes('dist/cli/index.js')),
      `${name}: calserve on the PATH runs the compiled CLI`,
    )
    t.ok(s.lines.includes('CMD ["calserve", "serve"]'), `${name}: the command is calserve serve`)
    t.notOk(
      s.lines.some((l) => /tsx|esbuild/.test(l)),
      `${name}: no tsx or esbuild`,
    )
    t.ok(
      s.lines.some((l) => /EXPOSE 8080 8081/.test(l)),
      `${name}: HTTP and gRPC ports`,
    )
  }
  const build = byName.build!
  t.ok(build.lines.includes('RUN npm ci'), 'npm ci with the committed settings (no install flag)')
  t.ok(
    build.lines.some((l) => l.includes('npm prune --omit=dev') && l.includes('deploy/prune-node-modules.sh')),
    'dev dependencies and other platforms pruned',
  )
  t.ok(
    build.lines.some((l) => l.includes('npm run build')),
    'the server and the CLI compiled',
  )

  // CUDA: the base's CUDA major is the one onnxruntime-node's install mechanism fetches.
  const require = createRequire(import.meta.url)
  const metadata = require(join(dirname(require.resolve('onnxruntime-node/package.json')), 'script/install-metadata.js')) as {
    requirements: Record<string, string[]>
  }
  const cudaManifest = metadata.requirements['linux/x64']!.find((n) => n.startsWith('cuda'))!
  const cudaImage = arg('CUDA_IMAGE')!
  t.match(cudaImage, /^nvidia\/cuda:(\d+)\.\d+\.\d+-cudnn-runtime-/, 'an nvidia/cuda runtime image with cuDNN')
  t.equal(`cuda${/^nvidia\/cuda:(\d+)/.exec(cudaImage)![1]}`, cudaManifest, `CUDA major of the base = onnxruntime-node's ${cudaManifest}`)
  t.equal(byName.cuda!.from, '${CUDA_IMAGE}')
  t.ok(
    byName['build-cuda']!.lines.some((l) => l.includes(`ONNXRUNTIME_NODE_INSTALL=${cudaManifest} node node_modules/onnxruntime-node/script/install.js`)),
    'the CUDA provider by onnxruntime-node’s own install script',
  )
  t.ok(byName.cuda!.lines.includes('COPY --from=node /usr/local/bin/node /usr/local/bin/node'), 'Node copied from the official image')
  t.equal(byName.node!.from, '${NODE_IMAGE}')
  t.match(arg('NODE_IMAGE'), /^node:20-/, 'Node 20')
  t.ok(
    byName.cuda!.lines.some((l) => /useradd --uid 1000/.test(l)),
    'a non-root user created in the CUDA image',
  )
  for (const copy of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
    for (const src of copy[1]!.split(/\s+/)) t.ok(existsSync(join(REPO_ROOT, src)), `COPY ${src} exists`)
  const ignored = read('.dockerignore')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
  for (const needed of ['src', 'models', 'deploy/prune-node-modules.sh', 'package.json'])
    t.notOk(
      ignored.some((i) => needed === i || needed.startsWith(`${i}/`)),
      `${needed} is in the build context`,
    )
})

t.test(
  'prune-node-modules.sh keeps this platform’s onnxruntime binaries and better-sqlite3’s addon only',
  { skip: process.platform === 'linux' ? false : 'the images are linux' },
  async (t) => {
    const dir = join(tempDir(t), 'node_modules')
    const ort = join(dir, 'onnxruntime-node/bin/napi-v6')
    const platforms = ['darwin/arm64', 'linux/arm64', 'linux/x64', 'win32/x64', 'win32/arm64']
    for (const p of platforms) (mkdirSync(join(ort, p), { recursive: true }), writeFileSync(join(ort, p, 'onnxruntime_binding.node'), 'x'))
    for (const p of ['deps/sqlite3', 'src', 'build/Release/obj.target']) mkdirSync(join(dir, 'better-sqlite3', p), { recursive: true })
    writeFileSync(join(dir, 'better-sqlite3/build/Release/better_sqlite3.node'), 'addon')
    writeFileSync(join(dir, 'better-sqlite3/build/Release/sqlite3.a'), 'archive')
    execFileSync('sh', [join(REPO_ROOT, 'deploy/prune-node-modules.sh'), dir])
    t.same(readdirSync(ort), ['linux'])
    t.same(readdirSync(join(ort, 'linux')), [process.arch])
    t.same(readdirSync(join(dir, 'better-sqlite3')), ['build'])
    t.same(readdirSync(join(dir, 'better-sqlite3/build/Release')), ['better_sqlite3.node'])
    t.equal(readFileSync(join(dir, 'better-sqlite3/build/Release/better_sqlite3.node'), 'utf8'), 'addon')
  },
)

t.test('docker-compose.yml: models volume, a drain before SIGKILL, a gpu profile, both ports', async (t) => {
  const services = compose.services as Record<string, Doc>
  const calserves = Object.entries(services).filter(([, s]) => (s.image ?? '').startsWith('calserve'))
  t.same(calserves.map(([n]) => n).sort(), ['calserve', 'calserve-1', 'calserve-2', 'calserve-3', 'calserve-gpu'])
  const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)![1])
  for (const [name, s] of calserves) {
    const env = s.environment as Record<string, string>
    // The delay, the grace, and as long again for answers still being computed (src/shutdown.ts).
    const drain = (Number(env.CALSERVE_SHUTDOWN_DELAY_MS) + 2 * Number(env.CALSERVE_SHUTDOWN_GRACE_MS)) / 1000
    t.ok(seconds(s.stop_grace_period) > drain, `${name}: stop_grace_period ${s.stop_grace_period} > ${drain} s of drain`)
    t.ok(
      (s.volumes as Array<Doc | string>).some((v) => typeof v === 'object' && v.target === env.CALSERVE_MODEL_REPOSITORY && v.read_only),
      `${name}: the models are a read-only volume at CALSERVE_MODEL_REPOSITORY`,
    )
  }
  const gpu = services['calserve-gpu']!
  t.same(gpu.profiles, ['gpu'])
  t.equal(gpu.build.target, 'cuda')
  t.match(gpu.deploy.resources.reservations.devices, [{ driver: 'nvidia', capabilities: ['gpu'] }])
  t.equal(gpu.environment.CALSERVE_EXECUTION_PROVIDERS, 'cuda,cpu')
  for (const name of ['calserve', 'calserve-gpu']) {
    const ports = services[name]!.ports as string[]
    t.ok(
      ports.some((p) => p.endsWith(`:${services[name]!.environment.CALSERVE_GRPC_PORT}`)),
      `${name}: the gRPC port is published`,
    )
  }
  const hostPorts = Object.values(services).flatMap((s) => ((s.ports ?? []) as string[]).map((p) => p.split(':').slice(0, -1).join(':')))
  t.equal(new Set(hostPorts).size, hostPorts.length, `no two services publish the same host port (${hostPorts.join(', ')})`)
  const known = new Set(CONFIG_VARIABLES)
  for (const [v] of calserveVariables([{ file: 'docker-compose.yml', doc: compose }])) t.ok(known.has(v), `${v} is read by src/config.ts`)
})

t.test('npm: no project config npm 11 does not know, every install script reviewed, engines Node 20 meets', async (t) => {
  const npmrc = read('.npmrc')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
  t.same(npmrc, [], '.npmrc sets nothing (onnxruntime-node-install was an unknown key)')
  const scripted = [
    ...new Set(
      Object.entries(lock.packages)
        .filter(([, p]) => p.hasInstallScript)
        .map(([k]) => k.split('node_modules/').at(-1)!),
    ),
  ].sort()
  t.same(Object.keys(pkg.allowScripts).sort(), scripted, 'allowScripts names exactly the packages with install scripts')
  t.equal(pkg.allowScripts['onnxruntime-node'], false, 'onnxruntime-node’s script (a CUDA download) is denied; the CUDA image runs it itself')
  t.equal(pkg.allowScripts['better-sqlite3'], true, 'better-sqlite3 builds or fetches its addon')
  t.notOk('tsx' in pkg.dependencies, 'tsx is a dev dependency: the images run compiled JavaScript')
  const tooNew = Object.entries(lock.packages).filter(([, p]) => /^>=\s*(2[1-9]|[3-9]\d)/.test(p.engines?.node ?? ''))
  t.same(
    tooNew.map(([k]) => k),
    [],
    'no locked package needs Node 21+ (cookie 2 did; overrides pins cookie 1)',
  )
  t.equal(pkg.overrides.cookie, '^1.1.1')
  t.match(lock.packages['node_modules/light-my-request/node_modules/cookie'], { version: /^1\./ })
})

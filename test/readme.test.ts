// What the README says about the wire is what the code does (issue 18, item 15): every error code
// the server can answer is in its error table with its status, every model state is in the API
// table, and every manifest key is in the repository outline.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { ModelStateSchema } from '../src/api/v1.js'
import { ErrorCode } from '../src/errors.js'
import { ManifestSchema } from '../src/models/manifest.js'

const ROOT = resolve(import.meta.dirname, '..')
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : []
  })
}
const SRC = sources(join(ROOT, 'src'))
  .filter((f) => !f.endsWith('errors.ts'))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n')

t.test('every error code the server answers is in the README with its status', async (t) => {
  for (const [name, status] of Object.entries(ErrorCode)) {
    // Codes the source names: new CalserveError('NAME', …), or CALSERVE_NAME built by hand.
    const used = SRC.includes(`'${name}'`) || SRC.includes(`CALSERVE_${name}`) || SRC.includes(`'${name}' :`)
    if (!used) continue
    t.match(README, new RegExp(`^\\| \`CALSERVE_${name}\` \\| ${status} \\|`, 'm'), `CALSERVE_${name} ${status}`)
  }
})

t.test('every model state is in the API table', async (t) => {
  const row = README.split('\n').find((l) => l.startsWith('| `GET /v1/models` |')) ?? ''
  for (const state of ModelStateSchema.options) t.match(row, `\`${state}\``, state)
})

t.test('every manifest key is in the repository outline', async (t) => {
  const outline = /```\nmodels\/\n([\s\S]*?)```/.exec(README)?.[1] ?? ''
  for (const key of Object.keys(ManifestSchema.shape)) t.match(outline, `"${key}"`, key)
})

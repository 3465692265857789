// readManifest on its own: defaults, and errors that name the file and the field path.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ManifestError, readManifest } from '../../src/models/manifest.js'
import { FIXTURE_MODELS, tempDir } from '../helper.js'

const write = (dir: string, value: unknown) => {
  const file = join(dir, `m${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value))
  return file
}

async function failure(file: string): Promise<string> {
  try {
    await readManifest(file)
  } catch (err) {
    if (err instanceof ManifestError) return err.message
    throw err
  }
  throw new Error(`${file} was accepted`)
}

t.test('the fixtures parse; input dtype defaults to float32', async (t) => {
  const image = await readManifest(join(FIXTURE_MODELS, 'image', 'model.json'))
  t.same(image.input, { name: 'pixels', shape: [1, 2, 2], dtype: 'float32' })
  const dir = tempDir(t)
  const base = JSON.parse(readFileSync(join(FIXTURE_MODELS, 'tiny', 'model.json'), 'utf8'))
  const m = await readManifest(write(dir, { ...base, input: { name: 'x', shape: [3] } }))
  t.equal(m.input?.dtype, 'float32')
  t.same(m.labels, ['cat', 'dog', 'bird', 'fish'])
})

t.test('errors name the file and the field path', async (t) => {
  const dir = tempDir(t)
  const base = { labels: ['a', 'b', 'c'], fine_tuning_classes: ['a'] }
  const cases: Array<[string, unknown, string[]]> = [
    ['missing file', undefined, ['cannot be read', 'ENOENT']],
    ['not JSON', '{"labels": [', ['not valid JSON']],
    ['a JSON array', '[]', ['(root)']],
    ['one label', { ...base, labels: ['a'], fine_tuning_classes: ['a'] }, ['labels']],
    ['empty label', { ...base, labels: ['a', ''] }, ['labels[1]']],
    ['unknown fine-tuning class', { ...base, fine_tuning_classes: ['a', 'zz'] }, ['fine_tuning_classes[1]', 'zz']],
    ['bad input shape', { ...base, input: { name: 'x', shape: [1, -2] } }, ['input.shape[1]']],
    ['bad input dtype', { ...base, input: { name: 'x', shape: [3], dtype: 'int64' } }, ['input.dtype']],
    ['unknown key in input', { ...base, input: { name: 'x', shape: [3], shpae: [3] } }, ['input', 'shpae']],
    ['unknown provider', { ...base, execution_providers: ['tpu'] }, ['execution_providers[0]']],
    ['output without a name', { ...base, output: {} }, ['output.name']],
  ]
  for (const [what, content, names] of cases) {
    const file = content === undefined ? join(dir, 'absent.json') : write(dir, content)
    const msg = await failure(file)
    t.ok(msg.startsWith(`${file}: `), `${what}: names the file — ${msg}`)
    for (const n of names) t.ok(msg.includes(n), `${what}: names ${n}`)
  }
})

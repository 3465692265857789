// Broken models in a repository: each is FAILED with a reason that names the file and the field,
// shown by GET /v1/models and GET /v1/models/{name}, and the other models still load and serve.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildCnn } from '../../bench/make-model.js'
import { build, copyFixtures } from '../helper.js'
import { checkPrediction, errorOf, expectedPrediction, fixture, logitsOf } from '../http/expected.js'

const tiny = fixture('tiny')

interface Broken {
  name: string
  /** Starts from a copy of this fixture. */
  from: 'tiny' | 'two_outputs'
  /** Edits the manifest object (or returns raw text to write). */
  manifest?: (m: Record<string, unknown>) => Record<string, unknown> | string
  /** Other edits of the model's folder. */
  edit?: (dir: string) => void
  /** Strings the reason must contain, given the model's folder relative to the repository. */
  names: (dir: string) => string[]
}

const manifestFile = (dir: string) => join(dir, 'model.json')

const DIGITS = Array.from({ length: 10 }, (_, i) => String(i))

/**
 * A digits-shaped CNN ([N, 1, 8, 8] → `columns` logits, bench/make-model.ts) in place of tiny's
 * versions, with a manifest of the ten digit labels: the ONNX file itself has the other width.
 */
function cnnWithColumns(columns: number): Pick<Broken, 'manifest' | 'edit'> {
  return {
    manifest: () => ({ labels: DIGITS, fine_tuning_classes: DIGITS.slice(0, 5), input: { name: 'pixels', shape: [1, 8, 8] }, output: { name: 'logits' } }),
    edit: (d) => {
      rmSync(join(d, '1'), { recursive: true })
      rmSync(join(d, '2'), { recursive: true })
      mkdirSync(join(d, '1'))
      writeFileSync(join(d, '1', 'model.onnx'), buildCnn(columns, 1).bytes)
    },
  }
}

const broken: Broken[] = [
  {
    name: 'bad_json',
    from: 'tiny',
    manifest: (m) => JSON.stringify(m).slice(0, -3),
    names: (d) => [manifestFile(d), 'JSON'],
  },
  {
    name: 'no_labels',
    from: 'tiny',
    manifest: ({ labels: _, ...m }) => m,
    names: (d) => [manifestFile(d), 'labels'],
  },
  {
    name: 'unknown_class',
    from: 'tiny',
    manifest: (m) => ({ ...m, fine_tuning_classes: ['cat', 'cow'] }),
    names: (d) => [manifestFile(d), 'fine_tuning_classes[1]', 'cow'],
  },
  {
    name: 'empty_ft',
    from: 'tiny',
    manifest: (m) => ({ ...m, fine_tuning_classes: [] }),
    names: (d) => [manifestFile(d), 'fine_tuning_classes'],
  },
  {
    name: 'typo_key',
    from: 'tiny',
    manifest: ({ fine_tuning_classes, ...m }) => ({ ...m, fine_tunning_classes: fine_tuning_classes }),
    names: (d) => [manifestFile(d), 'fine_tunning_classes'],
  },
  {
    name: 'duplicate_labels',
    from: 'tiny',
    manifest: (m) => ({ ...m, labels: ['cat', 'dog', 'cat', 'fish'] }),
    names: (d) => [manifestFile(d), 'labels'],
  },
  // The label count must equal the output width both ways (issue 18 item 18: `!==` weakened to `<`
  // let a model with more columns than labels load READY, and predict then answered 500).
  {
    name: 'wrong_width',
    from: 'tiny',
    manifest: (m) => ({ ...m, labels: ['cat', 'dog', 'bird', 'fish', 'cow'] }),
    names: (d) => [manifestFile(d), 'labels has 5 entries', 'has 4 columns'],
  },
  {
    name: 'fewer_labels_than_columns',
    from: 'tiny',
    manifest: (m) => ({ ...m, labels: ['cat', 'dog', 'bird'] }),
    names: (d) => [manifestFile(d), 'labels has 3 entries', 'has 4 columns'],
  },
  { name: 'cnn_12_columns_10_labels', from: 'tiny', ...cnnWithColumns(12), names: (d) => [manifestFile(d), 'labels has 10 entries', 'has 12 columns'] },
  { name: 'cnn_8_columns_10_labels', from: 'tiny', ...cnnWithColumns(8), names: (d) => [manifestFile(d), 'labels has 10 entries', 'has 8 columns'] },
  {
    name: 'bad_input_name',
    from: 'tiny',
    manifest: (m) => ({ ...m, input: { name: 'pixels', shape: [3] } }),
    names: (d) => [join(d, '2', 'model.onnx'), 'model.json', 'input', 'pixels'],
  },
  {
    name: 'bad_output_name',
    from: 'tiny',
    manifest: (m) => ({ ...m, output: { name: 'probs' } }),
    names: (d) => [join(d, '2', 'model.onnx'), 'model.json', 'output', 'probs'],
  },
  {
    name: 'two_outputs_unnamed',
    from: 'two_outputs',
    manifest: ({ output: _, ...m }) => m,
    names: (d) => [join(d, '1', 'model.onnx'), 'model.json', 'output', 'logits', 'probs'],
  },
  {
    name: 'no_version',
    from: 'tiny',
    edit: (d) => {
      rmSync(join(d, '1'), { recursive: true })
      rmSync(join(d, '2'), { recursive: true })
      mkdirSync(join(d, 'latest')) // not a version folder
      cpSync(join(d, '..', 'tiny', '2', 'model.onnx'), join(d, 'latest', 'model.onnx'))
    },
    names: (d) => [d, 'version'],
  },
  {
    name: 'garbage_onnx',
    from: 'tiny',
    edit: (d) => writeFileSync(join(d, '2', 'model.onnx'), 'this is not a protobuf'),
    names: (d) => [join(d, '2', 'model.onnx')],
  },
]

t.test('each broken model is FAILED with a reason naming file and field; the rest serve', async (t) => {
  const repo = copyFixtures(t)
  for (const b of broken) {
    const dir = join(repo, b.name)
    cpSync(join(repo, b.from), dir, { recursive: true })
    if (b.manifest) {
      const m = JSON.parse(readFileSync(manifestFile(dir), 'utf8')) as Record<string, unknown>
      const edited = b.manifest(m)
      writeFileSync(manifestFile(dir), typeof edited === 'string' ? edited : JSON.stringify(edited))
    }
    b.edit?.(dir)
  }
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })

  const list = (await app.inject({ url: '/v1/models' })).json().models as Array<{ name: string; state: string; reason?: string }>
  const byName = new Map(list.map((m) => [m.name, m]))
  t.same(
    [...byName.keys()].sort(),
    [...broken.map((b) => b.name), 'image', 'tiny', 'two_outputs'].sort(),
    'every folder is listed',
  )
  for (const name of ['tiny', 'image', 'two_outputs']) t.equal(byName.get(name)?.state, 'READY', `${name} is READY`)

  for (const b of broken) {
    const dir = join(repo, b.name)
    const listed = byName.get(b.name)
    t.equal(listed?.state, 'FAILED', `${b.name}: FAILED in the list`)
    const one = await app.inject({ url: `/v1/models/${b.name}` })
    t.equal(one.statusCode, 200, `${b.name}: GET /v1/models/${b.name}`)
    const info = one.json()
    t.equal(info.state, 'FAILED', `${b.name}: FAILED`)
    t.equal(info.reason, listed?.reason, `${b.name}: the same reason in both`)
    t.equal(info.calibration, null, `${b.name}: no calibration`)
    t.equal(info.output, null, `${b.name}: no output`)
    // Paths in the reason are relative to the repository: clients don't see the server's layout.
    for (const s of b.names(b.name)) t.ok(String(info.reason).includes(s), `${b.name}: reason names ${JSON.stringify(s)} — ${info.reason}`)
    t.notOk(String(info.reason).includes(dir), `${b.name}: no server path in the reason`)
    const pred = await app.inject({ method: 'POST', url: `/v1/models/${b.name}/predict`, payload: { inputs: [[1, 2, 3]] } })
    errorOf(t, pred, 503, 'CALSERVE_MODEL_NOT_READY', `${b.name}: predict`)
  }

  // The good models serve in the same app.
  const x = [1, 0.5, 0.25]
  const res = await app.inject({ method: 'POST', url: '/v1/models/tiny/predict', payload: { inputs: [x], top_k: 4 } })
  t.equal(res.statusCode, 200, res.body)
  checkPrediction(t, res.json().predictions[0], expectedPrediction(tiny, logitsOf(tiny, 2, x), 0, 1, 4), 'tiny beside broken models')
  const img = await app.inject({ method: 'POST', url: '/v1/models/image/predict', payload: { inputs: [[1, 2, 3, 4]] } })
  t.equal(img.statusCode, 200, img.body)

  // Ready once every model is READY or FAILED.
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.equal(ready.json().models.garbage_onnx, 'FAILED')
  t.equal(ready.json().models.tiny, 'READY')
})

t.test('a folder that is not a valid model name is skipped, not listed', async (t) => {
  const repo = copyFixtures(t, ['tiny'])
  cpSync(join(repo, 'tiny'), join(repo, 'bad name'), { recursive: true })
  const app = await build(t, { CALSERVE_MODEL_REPOSITORY: repo })
  const names = (await app.inject({ url: '/v1/models' })).json().models.map((m: { name: string }) => m.name)
  t.same(names, ['tiny'])
})

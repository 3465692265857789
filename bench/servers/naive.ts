// What a user would write: a Fastify route that parses the JSON body, builds a tensor and calls
// session.run once per request, then takes the argmax. No batching, no validation beyond the
// obvious, no calibration. Same path and body as calserve's JSON predict, so the same load works.
//
//   node --import tsx bench/servers/naive.ts --model-dir models/digits-finetuned --port 8102
//   (or MODEL_DIR=… PORT=…); the highest version folder's model.onnx is served.
import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import * as ort from 'onnxruntime-node'

const port = Number(flag('--port') ?? process.env['PORT'] ?? 8102)
const host = flag('--host') ?? process.env['HOST'] ?? '127.0.0.1'
const modelDir = flag('--model-dir') ?? process.env['MODEL_DIR']
if (!modelDir) throw new Error('give --model-dir <repository>/<model> (or MODEL_DIR)')

const manifest = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as {
  labels: string[]
  input?: { name: string; shape: number[] }
  output?: { name: string }
}
const version = Math.max(
  ...readdirSync(modelDir)
    .filter((d) => /^[1-9][0-9]*$/.test(d))
    .map(Number),
)
// As calserve: one intra-op thread per CPU this process may use (onnxruntime's default pins past taskset).
const session = await ort.InferenceSession.create(join(modelDir, String(version), 'model.onnx'), { intraOpNumThreads: availableParallelism() })
const inputName = manifest.input?.name ?? session.inputNames[0]!
const outputName = manifest.output?.name ?? session.outputNames[0]!
const sampleShape = manifest.input?.shape ?? (session.inputMetadata[0] as unknown as { shape: number[] }).shape.slice(1)
const labels = manifest.labels

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 })
app.get('/health', async () => ({ ok: true }))
app.post('/v1/models/:name/predict', async (req, reply) => {
  const { inputs } = req.body as { inputs: unknown[] }
  if (!Array.isArray(inputs) || inputs.length === 0) return reply.code(400).send({ error: 'inputs must be a non-empty array' })
  const data = Float32Array.from(inputs.flat(Infinity) as number[])
  const out = await session.run({ [inputName]: new ort.Tensor('float32', data, [inputs.length, ...sampleShape]) })
  const logits = out[outputName]!.data as Float32Array
  const c = labels.length
  const predictions = []
  for (let i = 0; i < inputs.length; i++) {
    let best = 0
    for (let j = 1; j < c; j++) if (logits[i * c + j]! > logits[i * c + best]!) best = j
    predictions.push({ label: labels[best], index: best })
  }
  return { predictions }
})

await app.listen({ host, port })
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

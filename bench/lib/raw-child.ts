// Raw onnxruntime as its own process, so taskset can give it the same core budget as the servers:
//   taskset -c 0 node --import tsx bench/lib/raw-child.ts '<JSON of RawChildInput>'
// Prints one line of JSON (RawResult plus the process's CPU per sample) on stdout.
import { readFile } from 'node:fs/promises'
import { rawOnnxruntime } from './inproc.js'

export interface RawChildInput {
  onnxFile: string
  input: string
  output: string
  sampleShape: number[]
  /** A file of float32 samples back to back, each sampleShape in size. */
  samplesFile: string
  batches: number[]
  budgetMs: number
}

const input = JSON.parse(process.argv[2] ?? '{}') as RawChildInput
const bytes = await readFile(input.samplesFile)
const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
const size = input.sampleShape.reduce((a, b) => a * b, 1)
const samples = Array.from({ length: all.length / size }, (_, i) => all.slice(i * size, (i + 1) * size))
const result = await rawOnnxruntime(input.onnxFile, input, samples, input.batches, input.budgetMs, 3, true)
process.stdout.write(`${JSON.stringify(result)}\n`)

// What a predict should answer, computed here independently of src/: logits from weights.json
// (x·W + b in float64, exact for the fixtures' multiples of 1/8), then the calibrated logits
// z + γ·[absent], softmax(·/T) and a plain sort.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { FIXTURE_MODELS, linearLogits } from '../helper.js'

/** Inputs for the tiny fixture: small multiples of 1/8, so float32 logits equal x·W + b exactly. */
export const TINY_X = [
  [1, 0.5, 0.25],
  [0, 1, 2],
  [-1, 0.25, 1.5],
  [0.5, -0.75, 0.125],
  [2, 2, -1],
]

export interface Weights {
  W: number[][]
  b: number[]
}

export interface FixtureInfo {
  labels: string[]
  absent: boolean[]
  weights: Record<string, Weights>
}

/** labels, absent mask and weights of a fixture model, read from its files. */
export function fixture(name: string, root = FIXTURE_MODELS): FixtureInfo {
  const manifest = JSON.parse(readFileSync(join(root, name, 'model.json'), 'utf8')) as {
    labels: string[]
    fine_tuning_classes: string[]
  }
  const weights = JSON.parse(readFileSync(join(root, name, 'weights.json'), 'utf8')) as Record<string, Weights>
  const ft = new Set(manifest.fine_tuning_classes)
  return { labels: manifest.labels, absent: manifest.labels.map((l) => !ft.has(l)), weights }
}

export interface ExpectedClass {
  label: string
  index: number
  score: number
}

export interface ExpectedPrediction extends ExpectedClass {
  absent: boolean
  top_k: ExpectedClass[]
}

/** The prediction for raw logits `z` under γ and temperature T, top `k` classes. */
export function expectedPrediction(
  info: Pick<FixtureInfo, 'labels' | 'absent'>,
  z: number[],
  gamma: number,
  temperature: number,
  k: number,
): ExpectedPrediction {
  const u = z.map((v, j) => v + (info.absent[j] ? gamma : 0))
  const m = Math.max(...u)
  const e = u.map((v) => Math.exp((v - m) / temperature))
  const sum = e.reduce((a, b) => a + b, 0)
  const order = u.map((_, j) => j).sort((a, b) => u[b]! - u[a]! || a - b)
  const cls = (j: number): ExpectedClass => ({ label: info.labels[j]!, index: j, score: e[j]! / sum })
  const best = order[0]!
  return { ...cls(best), absent: info.absent[best]!, top_k: order.slice(0, k).map(cls) }
}

/** True when no two calibrated logits tie, so the expected order is unambiguous. */
export function noTies(info: Pick<FixtureInfo, 'absent'>, z: number[], gamma: number): boolean {
  const u = z.map((v, j) => v + (info.absent[j] ? gamma : 0))
  return new Set(u).size === u.length
}

/** The γ at which a sample's prediction moves from S to U: max_S z − max_U z. */
export function breakpoint(info: Pick<FixtureInfo, 'absent'>, z: number[]): number {
  const s = Math.max(...z.filter((_, j) => !info.absent[j]))
  const u = Math.max(...z.filter((_, j) => info.absent[j]))
  return s - u
}

type Asserts = Test

const TOL = 1e-12

/** Checks one prediction of a response against the expected one (scores to 1e-12). */
export function checkPrediction(t: Asserts, got: unknown, want: ExpectedPrediction, what: string): void {
  const g = got as ExpectedPrediction
  t.equal(g.label, want.label, `${what}: label`)
  t.equal(g.index, want.index, `${what}: index`)
  t.equal(g.absent, want.absent, `${what}: absent`)
  t.ok(Math.abs(g.score - want.score) <= TOL, `${what}: score ${g.score} ≈ ${want.score}`)
  t.equal(g.top_k.length, want.top_k.length, `${what}: top_k length`)
  want.top_k.forEach((w, r) => {
    const c = g.top_k[r]
    t.equal(c?.label, w.label, `${what}: top_k[${r}].label`)
    t.equal(c?.index, w.index, `${what}: top_k[${r}].index`)
    t.ok(c !== undefined && Math.abs(c.score - w.score) <= TOL, `${what}: top_k[${r}].score ${c?.score} ≈ ${w.score}`)
  })
}

/** Expected logits of `x` under a fixture version. */
export function logitsOf(info: FixtureInfo, version: number, x: number[]): number[] {
  const w = info.weights[String(version)]
  if (!w) throw new Error(`no weights for version ${version}`)
  return linearLogits(w, x)
}

/** The error body shape every route answers with; returns the error for further checks. */
export function errorOf(
  t: Asserts,
  res: { statusCode: number; body: string; headers: Record<string, unknown> },
  status: number,
  code: string,
  what: string,
): { code: string; message: string; details?: Record<string, unknown> } {
  t.equal(res.statusCode, status, `${what}: status ${status}`)
  t.ok(String(res.headers['content-type'] ?? '').startsWith('application/json'), `${what}: JSON body`)
  const body = JSON.parse(res.body) as { error: { code: string; message: string; details?: Record<string, unknown> } }
  t.same(Object.keys(body), ['error'], `${what}: body has only "error"`)
  const keys = Object.keys(body.error).sort()
  t.ok(keys.join() === 'code,message' || keys.join() === 'code,details,message', `${what}: error has code, message and optional details (${keys.join()})`)
  t.equal(body.error.code, code, `${what}: code ${code}`)
  t.ok(typeof body.error.message === 'string' && body.error.message.length > 0, `${what}: a message`)
  return body.error
}

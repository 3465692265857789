// The one way tests build calserve: a real app on a copy-free fixture repository, a fresh SQLite
// file per test, models loaded before the test runs, closed on teardown.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'

export const FIXTURE_MODELS = resolve(import.meta.dirname, 'fixtures/models')
export const DEMO_MODELS = resolve(import.meta.dirname, '../models')

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A fresh temporary folder removed when the test ends. */
export function tempDir(t: Teardown, prefix = 'calserve-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A writable copy of the fixture repository (for tests that add broken models or versions). */
export function copyFixtures(t: Teardown, names?: string[]): string {
  const dir = tempDir(t, 'calserve-models-')
  for (const name of names ?? ['tiny', 'image', 'two_outputs']) cpSync(join(FIXTURE_MODELS, name), join(dir, name), { recursive: true })
  return dir
}

export function testConfig(t: Teardown, env: Record<string, string> = {}): Config {
  return loadConfig({
    CALSERVE_MODEL_REPOSITORY: FIXTURE_MODELS,
    CALSERVE_STORE_URL: `sqlite:${join(tempDir(t), 'calserve.db')}`,
    CALSERVE_LOG_LEVEL: 'silent',
    ...env,
  })
}

/** Builds the app, waits for every model to be READY or FAILED, and closes it on teardown. */
export async function build(t: Teardown, env: Record<string, string> = {}, config?: Config): Promise<FastifyInstance> {
  const app = await buildApp(config ?? testConfig(t, env))
  t.teardown(() => app.close())
  await app.ready()
  await app.modelsLoaded
  return app
}

/** Expected logits of a fixture model computed independently of onnxruntime: x·W + b in float64. */
export function linearLogits(weights: { W: number[][]; b: number[] }, x: number[]): number[] {
  return weights.b.map((b, j) => x.reduce((acc, xi, i) => acc + xi * weights.W[i]![j]!, b))
}

/** Polls `cond` every 10 ms until it holds (true) or `ms` pass (false). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

/** The error `p` rejects with, or undefined when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  return undefined
}

// The real `calserve` bin (bin/calserve.js) run as a user runs it, for the CLI tests, and a real
// server process on the demo models for it to talk to.
//
//   const url = await startDemoServer(t)
//   const { code, stdout } = await calserve(['fit', '--model', 'digits-finetuned', '--data', file], { CALSERVE_URL: url })
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { tempDir } from '../helper.js'
import { cleanEnv, REPO_ROOT, start, waitReady } from '../e2e/process.js'

export const BIN = join(REPO_ROOT, 'bin/calserve.js')

export interface CliRun {
  code: number | null
  stdout: string
  /** stdout as bytes, for commands that write binary (calserve export --out -). */
  stdoutBytes: Buffer
  stderr: string
}

/**
 * Runs the bin with `env` over this process's environment less the test runner's loader options
 * (the bin loads tsx itself) and any CALSERVE_*; from `cwd`, by default the repository's parent,
 * since it must work from any directory.
 */
export async function calserve(args: string[], env: Record<string, string> = {}, cwd = join(REPO_ROOT, '..')): Promise<CliRun> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const stdout: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (b: Buffer) => stdout.push(b))
  child.stderr.on('data', (b: Buffer) => (stderr += b))
  const [code] = (await once(child, 'close')) as [number | null]
  const stdoutBytes = Buffer.concat(stdout)
  return { code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr }
}

/** calserve on the bundled demo models (models/) with a fresh SQLite store; resolves with its URL once ready. */
export async function startDemoServer(t: Parameters<typeof tempDir>[0], env: Record<string, string> = {}): Promise<string> {
  const db = join(tempDir(t, 'calserve-cli-'), 'calserve.db')
  const server = await start(t, {
    CALSERVE_MODEL_REPOSITORY: 'models',
    CALSERVE_STORE_URL: `sqlite:${db}`,
    CALSERVE_LOG_LEVEL: 'warn',
    CALSERVE_SHUTDOWN_GRACE_MS: '2000',
    ...env,
  })
  await waitReady(server)
  return server.url
}

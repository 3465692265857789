// The README's shell blocks, run as a reader pastes them: `npx calserve` is the repository's bin,
// `npx tsx` node with tsx, localhost:8080 the test's server, in bash with -euo pipefail.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanEnv, REPO_ROOT } from '../e2e/process.js'
import type { CliRun } from './bin.js'

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')

/** The section under `heading` (to the next heading of level 2 or 3) and its first ```sh block. */
export function readmeSection(heading: string): { text: string; sh: string } {
  const at = README.indexOf(`\n${heading}\n`)
  if (at < 0) throw new Error(`README has no heading '${heading}'`)
  const rest = README.slice(at + heading.length + 2)
  const text = rest.slice(0, rest.search(/\n#{2,3} /))
  const m = /```sh\n([\s\S]*?)```/.exec(text)
  if (!m) throw new Error(`no sh block under '${heading}'`)
  return { text, sh: m[1]! }
}

export async function runReadmeScript(script: string, port: number, cwd = REPO_ROOT): Promise<Omit<CliRun, 'stdoutBytes'>> {
  const local = script
    .replaceAll('npx calserve', `${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO_ROOT, 'bin/calserve.js'))}`)
    .replaceAll('npx tsx', `${JSON.stringify(process.execPath)} --import tsx`)
    .replaceAll('localhost:8080', `127.0.0.1:${port}`)
  const child = spawn('bash', ['-euo', 'pipefail', '-c', local], {
    cwd,
    env: { ...cleanEnv(), CALSERVE_URL: `http://127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (b: Buffer) => (stdout += b))
  child.stderr.on('data', (b: Buffer) => (stderr += b))
  const [code] = (await once(child, 'close')) as [number | null]
  return { code, stdout, stderr }
}

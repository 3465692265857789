// What the dashboard's browser tests share: a real calserve process, Debian's chromium driven by
// playwright-core, and the page's slider and readout as a user sees them.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'
import type { Page } from 'playwright-core'
import { tempDir } from '../helper.js'

const ROOT = resolve(import.meta.dirname, '../..')
export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser part can't run here, or false when it can. */
export const noChromium = (): string | false =>
  !existsSync(CHROMIUM) ? `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) to run the browser part` : false

/**
 * A headless chromium with a fresh profile, closed when `t` ends, and its first page. `problems`
 * collects page errors and console errors other than refused requests (a CSP refusal, a bug).
 */
export async function launch(t: Test, viewport = { width: 1280, height: 1000 }): Promise<{ page: Page; problems: string[] }> {
  const { chromium } = await import('playwright-core')
  const context = await chromium.launchPersistentContext(tempDir(t, 'calserve-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport,
  })
  t.teardown(() => context.close())
  const page = context.pages()[0] ?? (await context.newPage())
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('console', (msg) => {
    // A refused request shows up as "Failed to load resource"; anything else is a problem.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`)
  })
  return { page, problems }
}

/** Starts `node --import tsx src/main.ts` on a free port and resolves with its address once every model is loaded. */
export async function startCalserve(t: Test, env: Record<string, string>): Promise<string> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      CALSERVE_HOST: '127.0.0.1',
      CALSERVE_PORT: '0',
      CALSERVE_GRPC_PORT: '0',
      CALSERVE_SHUTDOWN_DELAY_MS: '0',
      CALSERVE_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((res) => child.once('exit', () => res()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise<string>((res, rej) => {
    let address: string | null = null
    const timer = setTimeout(() => rej(new Error(`calserve did not start in 30 s\n${stderr}`)), 30_000)
    child.once('exit', (code) => rej(new Error(`calserve exited with ${code}\n${stderr}`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: { msg?: string; address?: string }
      try {
        entry = JSON.parse(line)
      } catch {
        return
      }
      if (entry.address && entry.msg?.startsWith('calserve listening')) address = entry.address
      if (entry.msg?.startsWith('models loaded') && address) {
        clearTimeout(timer)
        res(address)
      }
    })
  })
}

/** A request as a client outside the page makes it; `token` goes as a bearer token. */
export async function http(base: string, method: string, path: string, body?: unknown, contentType = 'application/json', token?: string) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  if (body !== undefined) headers['content-type'] = contentType
  const res = await fetch(base + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
}

/** Sets the slider as a user would end up with it and fires `input`, as dragging does. */
export async function moveSlider(page: Page, gamma: number): Promise<void> {
  await page.$eval(
    '#gamma-slider',
    (el, g) => {
      const input = el as HTMLInputElement
      input.value = String(g)
      input.dispatchEvent(new Event('input', { bubbles: true }))
    },
    gamma,
  )
}

export async function readout(page: Page) {
  const read = (id: string) => page.$eval(`#${id}`, (el) => ({ text: el.textContent, value: (el as HTMLElement).dataset.value ?? '' }))
  return {
    gamma: await read('at-gamma'),
    s: await read('at-acc-s-y'),
    u: await read('at-acc-u-y'),
    y: await read('at-acc-y-y'),
    hm: await read('at-hm'),
  }
}

export const waitText = (page: Page, selector: string, text: string, timeout = 6000) =>
  page.waitForFunction(([sel, want]) => document.querySelector(sel)?.textContent === want, [selector, text] as const, { timeout })

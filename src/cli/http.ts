// The HTTP client of the CLI: base URL and token from options or the environment, JSON in and out,
// and every failure turned into one line for the user — an error body from the server becomes
// `CODE: message`, a refused connection names the URL it tried.
import type { z } from 'zod'
import type { ModelInfoSchema } from '../api/v1.js'
import { ApiError, CliError, UsageError } from './output.js'

export type ModelInfo = z.infer<typeof ModelInfoSchema>

export const DEFAULT_URL = 'http://127.0.0.1:8080'

export type Query = Record<string, string | number | boolean | undefined>

export interface RequestInit {
  query?: Query
  /** Sent as application/json. */
  json?: unknown
  /** A streamed body (sent with duplex: 'half'), with its content type. */
  stream?: ReadableStream<Uint8Array>
  contentType?: string
  /** When the streamed body failed on our side, that error explains the failure better than fetch's. */
  streamError?: () => Error | undefined
}

export interface Answer<T> {
  status: number
  headers: Headers
  body: T
}

export class Client {
  readonly baseUrl: string
  private readonly token: string | undefined

  constructor(opts: { url?: string | undefined; token?: string | undefined } = {}, env: NodeJS.ProcessEnv = process.env) {
    const raw = opts.url ?? (env.CALSERVE_URL || DEFAULT_URL)
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      throw new UsageError(`--url '${raw}' is not a URL (try http://127.0.0.1:8080)`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url '${raw}' must be http:// or https://`)
    this.baseUrl = url.href.replace(/\/+$/, '')
    this.token = opts.token ?? (env.CALSERVE_TOKEN || undefined)
  }

  url(path: string, query: Query = {}): string {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v))
    const qs = params.toString()
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, query ? { query } : {}).then((a) => a.body)
  }

  post<T>(path: string, json: unknown): Promise<T> {
    return this.request<T>('POST', path, { json }).then((a) => a.body)
  }

  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<Answer<T>> {
    const url = this.url(path, init.query)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    let body: BodyInit | undefined
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(init.json)
    } else if (init.stream) {
      headers['content-type'] = init.contentType ?? 'application/octet-stream'
      body = init.stream
    }
    let res: Response
    try {
      res = await fetch(url, { method, headers, body, ...(init.stream ? { duplex: 'half' } : {}) })
    } catch (e) {
      throw init.streamError?.() ?? this.networkError(e)
    }
    let text: string
    try {
      text = await res.text()
    } catch (e) {
      throw init.streamError?.() ?? this.networkError(e)
    }
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      if (res.ok) throw new CliError(`${method} ${url} answered ${res.status} with a body that is not JSON`)
    }
    if (!res.ok) throw errorFromAnswer(res.status, parsed, text)
    return { status: res.status, headers: res.headers, body: parsed as T }
  }

  /** GET a binary answer (an exported model) as bytes; an error answer still becomes `CODE: message`. */
  async getBytes(path: string, query?: Query): Promise<Answer<Uint8Array>> {
    const url = this.url(path, query)
    const headers: Record<string, string> = { accept: 'application/octet-stream, application/json' }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    let res: Response
    let body: Uint8Array
    try {
      res = await fetch(url, { headers })
      body = new Uint8Array(await res.arrayBuffer())
    } catch (e) {
      throw this.networkError(e)
    }
    if (!res.ok) {
      const text = Buffer.from(body).toString('utf8')
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
      throw errorFromAnswer(res.status, parsed, text)
    }
    return { status: res.status, headers: res.headers, body }
  }

  private networkError(e: unknown): CliError {
    if (e instanceof CliError) return e
    const cause = (e as { cause?: { code?: string; message?: string } }).cause
    switch (cause?.code) {
      case 'ECONNREFUSED':
        return new CliError(`cannot connect to ${this.baseUrl}: connection refused (is calserve running there? set --url or CALSERVE_URL)`)
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new CliError(`cannot connect to ${this.baseUrl}: host not found`)
      case 'ETIMEDOUT':
      case 'UND_ERR_CONNECT_TIMEOUT':
        return new CliError(`cannot connect to ${this.baseUrl}: timed out`)
    }
    const why = cause?.message ?? (e instanceof Error ? e.message : String(e))
    return new CliError(`request to ${this.baseUrl} failed: ${why}`)
  }
}

/** {error: {code, message, details}} → ApiError; anything else names the HTTP status. */
export function errorFromAnswer(status: number, parsed: unknown, text: string): ApiError {
  const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error
  if (error && typeof error.code === 'string' && typeof error.message === 'string') return new ApiError(error.code, error.message, status, error.details)
  const snippet = text.trim().slice(0, 200)
  return new ApiError(`HTTP_${status}`, snippet || 'the server answered with an error and no body', status)
}

/** GET /v1/models/{name}: also the early "no such model" check of predict and fit. */
export function getModel(client: Client, name: string): Promise<ModelInfo> {
  return client.get<ModelInfo>(`/v1/models/${encodeURIComponent(name)}`)
}

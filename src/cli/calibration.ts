// `calserve calibration set|history|rollback`: a model's calibration by hand, over the v1 API —
// PUT …/calibration, GET …/calibration/history (one page at a time) and POST …/calibration/rollback.
import type { z } from 'zod'
import type { CalibrationRecordSchema, HistorySchema } from '../api/v1.js'
import { CLIENT, CLIENT_USAGE, HELP, intOption, parseArgs, parseOrUsage, required, type Command } from './args.js'
import { Client } from './http.js'
import { out, outLine, UsageError } from './output.js'
import { formatPairs, formatTable, NONE } from './table.js'

type CalibrationRecord = z.infer<typeof CalibrationRecordSchema>
type History = z.infer<typeof HistorySchema>

const usage = `usage: calserve calibration <set|history|rollback> --model NAME [options]

A model's calibration by hand. Each change is stored as the next version and is active at once.
  set --gamma G [--temperature T]
                     set γ (and the score temperature, default 1)
  history [--limit N] [--before V]
                     the stored versions, newest first, N at a time (default 20); --before V
                     lists those older than V (the "more:" line prints it)
  rollback --version V
                     make version V's γ and temperature active again, as a new version
  --model NAME       the model
  --expected-version N
                     set, rollback: refuse unless N is the active calibration version
  --note TEXT        set, rollback: stored with the new version
${CLIENT_USAGE}
`

const HISTORY_LIMIT = 20

const calibrationPath = (model: string) => `/v1/models/${encodeURIComponent(model)}/calibration`

/** γ and T as typed: any finite number (the server bounds them). */
function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, not '${value}'`, usage)
  return n
}

/** A stored version as `key  value` lines, as `set` and `rollback` print it. */
export function recordReport(r: CalibrationRecord): string {
  return formatPairs([
    ['model', `${r.model} v${r.model_version}`],
    ['version', String(r.version)],
    ['γ', String(r.gamma)],
    ['temperature', String(r.temperature)],
    ['method', r.method + (r.source_version !== null ? ` of version ${r.source_version}` : '')],
    ['by', r.created_by ?? NONE],
    ['note', r.note ?? NONE],
  ])
}

/** One history page as a table, and how to ask for the next one. */
export function historyTable(h: History, model: string): string {
  if (h.versions.length === 0) return 'no stored calibration: the model runs uncalibrated (γ = 0)\n'
  const rows = h.versions.map((r) => [
    String(r.version),
    String(r.gamma),
    String(r.temperature),
    r.method + (r.source_version !== null ? ` of ${r.source_version}` : ''),
    r.created_at ?? NONE,
    r.created_by ?? NONE,
    r.note ?? '',
  ])
  const table = formatTable(['VERSION', 'γ', 'T', 'METHOD', 'CREATED', 'BY', 'NOTE'], rows, ['right', 'right', 'right'])
  return table + (h.next === null ? '' : `more: calserve calibration history --model ${model} --before ${h.next}\n`)
}

export const calibration: Command = {
  name: 'calibration',
  summary: 'set γ by hand, list the history, roll back',
  usage,
  async run(argv) {
    const [action, ...rest] = argv
    if (action === undefined || action === '--help' || action === '-h') {
      if (action === undefined) throw new UsageError('say set, history or rollback', usage)
      return out(usage)
    }
    if (action !== 'set' && action !== 'history' && action !== 'rollback') throw new UsageError(`unknown action '${action}' (set, history or rollback)`, usage)
    const { values } = parseOrUsage(usage, () =>
      parseArgs({
        args: rest,
        options: {
          ...HELP,
          ...CLIENT,
          model: { type: 'string', short: 'm' },
          gamma: { type: 'string' },
          temperature: { type: 'string' },
          version: { type: 'string' },
          'expected-version': { type: 'string' },
          note: { type: 'string' },
          limit: { type: 'string', short: 'n' },
          before: { type: 'string' },
        },
        strict: true,
        allowPositionals: false,
      }),
    )
    if (values.help) return out(usage)
    const model = required(values.model, 'model', usage)
    // Options that belong to another action are mistakes, not something to ignore.
    const allowed = {
      set: ['gamma', 'temperature', 'expected-version', 'note'],
      history: ['limit', 'before'],
      rollback: ['version', 'expected-version', 'note'],
    }[action]
    for (const name of ['gamma', 'temperature', 'version', 'expected-version', 'note', 'limit', 'before'] as const)
      if (values[name] !== undefined && !allowed.includes(name)) throw new UsageError(`--${name} does not apply to 'calibration ${action}'`, usage)
    const client = new Client(values)
    const expected_version = intOption(values['expected-version'], 'expected-version', usage, 0)
    const note = values.note

    let record: CalibrationRecord
    if (action === 'history') {
      const query = { limit: intOption(values.limit, 'limit', usage, 1) ?? HISTORY_LIMIT, before: intOption(values.before, 'before', usage, 1) }
      const page = await client.get<History>(`${calibrationPath(model)}/history`, query)
      return out(values.json ? `${JSON.stringify(page, null, 2)}\n` : historyTable(page, model))
    } else if (action === 'set') {
      const gamma = numberOption(required(values.gamma, 'gamma', usage), 'gamma')!
      const temperature = numberOption(values.temperature, 'temperature')
      record = (await client.request<CalibrationRecord>('PUT', calibrationPath(model), { json: { gamma, temperature, expected_version, note } })).body
    } else {
      const version = intOption(required(values.version, 'version', usage), 'version', usage, 1)!
      record = await client.post<CalibrationRecord>(`${calibrationPath(model)}/rollback`, { version, expected_version, note })
    }
    if (values.json) return outLine(JSON.stringify(record, null, 2))
    out(recordReport(record))
  },
}

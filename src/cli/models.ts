// `calserve models`: what a server serves, in what state, with which calibration.
import { CLIENT, CLIENT_USAGE, HELP, parseArgs, parseOrUsage, type Command } from './args.js'
import { Client, type ModelInfo } from './http.js'
import { out, outLine } from './output.js'
import { formatFixed, formatTable, NONE } from './table.js'

const usage = `usage: calserve models [--url URL] [--token TOKEN] [--json]

Lists the models of a calserve server: name, version, state, execution provider, and the active
calibration (version, method and γ).
${CLIENT_USAGE}
`

export function modelsTable(models: readonly ModelInfo[]): string {
  const rows = models.map((m) => [
    m.name,
    m.version === null ? NONE : String(m.version),
    m.state,
    m.execution_provider ?? NONE,
    m.calibration ? `${m.calibration.version} (${m.calibration.method})` : NONE,
    m.calibration ? formatFixed(m.calibration.gamma) : NONE,
  ])
  const table = formatTable(['NAME', 'VERSION', 'STATE', 'PROVIDER', 'CALIBRATION', 'γ'], rows, ['left', 'right', 'left', 'left', 'left', 'right'])
  const notes = models.flatMap((m) => [
    ...(m.reason ? [`${m.name}: ${m.reason}`] : []),
    ...(m.execution_provider_fallback ? [`${m.name}: ${m.execution_provider_fallback}`] : []),
  ])
  return table + (notes.length ? `\n${notes.join('\n')}\n` : '')
}

export const models: Command = {
  name: 'models',
  summary: 'list the models of a server and their calibration',
  usage,
  async run(argv) {
    const { values } = parseOrUsage(usage, () => parseArgs({ args: argv, options: { ...HELP, ...CLIENT }, strict: true, allowPositionals: false }))
    if (values.help) return out(usage)
    const body = await new Client(values).get<{ models: ModelInfo[] }>('/v1/models')
    if (values.json) return outLine(JSON.stringify(body, null, 2))
    if (body.models.length === 0) return outLine('no models')
    out(modelsTable(body.models))
  },
}

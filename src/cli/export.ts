// `calserve export --model M --out FILE [--version N]`: the served model with its calibration
// baked in, from GET /v1/models/{name}/calibration/export.onnx, written to FILE (or stdout with -).
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { CLIENT, CLIENT_USAGE, HELP, intOption, parseArgs, parseOrUsage, required, type Command } from './args.js'
import { Client } from './http.js'
import { CliError, errLine, out, outLine } from './output.js'

const usage = `usage: calserve export --model NAME [--out FILE] [--version N]

Writes the served ONNX model with its calibration appended to the logits output (one Add of γ on the
absent classes and, when T ≠ 1, one Div by T; the output keeps its name), for Triton, ONNX Runtime
in an app or a browser. The file's metadata_props say which model, version and calibration it holds.
  --model NAME       the model
  --out FILE         where to write the .onnx file (default: the server's name for it,
                     <model>-v<model version>-cal<calibration version>.onnx, here); - is stdout
  --version N        a stored calibration version instead of the active one (0: uncalibrated)
${CLIENT_USAGE}
`

export const exportCommand: Command = {
  name: 'export',
  summary: 'write the served model with its calibration baked in (.onnx)',
  usage,
  async run(argv) {
    const { values } = parseOrUsage(usage, () =>
      parseArgs({
        args: argv,
        options: { ...HELP, ...CLIENT, model: { type: 'string', short: 'm' }, out: { type: 'string', short: 'o' }, version: { type: 'string' } },
        strict: true,
        allowPositionals: false,
      }),
    )
    if (values.help) return out(usage)
    const model = required(values.model, 'model', usage)
    const version = intOption(values.version, 'version', usage, 0)
    const client = new Client(values)
    const answer = await client.getBytes(`/v1/models/${encodeURIComponent(model)}/calibration/export.onnx`, { version })
    const calibration = answer.headers.get('x-calserve-calibration-version')
    const file = values.out ?? suggestedName(answer.headers.get('content-disposition'))
    if (file === undefined) throw new CliError('the server named no file for the export; give --out FILE')
    if (file === '-') {
      process.stdout.write(answer.body)
      return
    }
    try {
      await mkdir(dirname(file), { recursive: true })
      // Written beside and renamed, so FILE is never a partial model.
      const partial = `${file}.partial`
      await writeFile(partial, answer.body)
      await rename(partial, file)
    } catch (e) {
      throw new CliError(`cannot write ${file}: ${(e as Error).message}`)
    }
    if (values.json)
      return outLine(JSON.stringify({ file, bytes: answer.body.byteLength, model, calibration_version: calibration === null ? null : Number(calibration) }))
    errLine(`wrote ${file} (${answer.body.byteLength} bytes): model ${model}, calibration version ${calibration ?? '?'}`)
  },
}

/** The filename of `attachment; filename="…"`, if it is a plain name (no folder, nothing hidden). */
export function suggestedName(disposition: string | null): string | undefined {
  const name = /filename="([^"]+)"/.exec(disposition ?? '')?.[1]
  return name !== undefined && /^[A-Za-z0-9._-]+$/.test(name) && !name.startsWith('.') ? name : undefined
}

// `calserve <command>`: dispatch to one command, and the one place that turns errors into a
// message on stderr and an exit code (1: failed, 2: bad command line).
import { readFileSync } from 'node:fs'
import type { Command } from './args.js'
import { calibration } from './calibration.js'
import { exportCommand } from './export.js'
import { fit } from './fit.js'
import { importCommand } from './import.js'
import { models } from './models.js'
import { openapi } from './openapi.js'
import { CliError, errLine, out, UsageError } from './output.js'
import { predict } from './predict.js'
import { serve } from './serve.js'

const COMMANDS: readonly Command[] = [serve, models, predict, fit, calibration, exportCommand, importCommand, openapi]

const USAGE = `usage: calserve <command> [options]

Inference for fine-tuned ONNX classifiers with a calibrated absent-class bias γ.

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}

Run 'calserve <command> --help' for the options of a command.
Client commands use --url (default $CALSERVE_URL or http://127.0.0.1:8080) and --token ($CALSERVE_TOKEN).
`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === '--help' || name === '-h' || name === 'help') {
    out(USAGE)
    return 0
  }
  if (name === '--version' || name === '-v') {
    out(`calserve ${version()}\n`)
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  try {
    if (!command) throw new UsageError(name === undefined ? 'no command given' : `unknown command '${name}'`, USAGE)
    await command.run(rest)
    return 0
  } catch (e) {
    return report(e, command)
  }
}

function report(e: unknown, command: Command | undefined): number {
  if (e instanceof UsageError) {
    errLine(`calserve${command ? ` ${command.name}` : ''}: ${e.message}`)
    errLine()
    process.stderr.write(e.usage ?? command?.usage ?? USAGE)
    return 2
  }
  if (e instanceof CliError) {
    errLine(`calserve: ${e.message}`)
    return e.exitCode
  }
  errLine(`calserve: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
  return 1
}

process.exitCode = await main(process.argv.slice(2))

// `calserve serve`: the server itself, exactly as `npm start` runs it (src/main.ts). Options are
// shorthands for the CALSERVE_* environment variables that configure it.
import { HELP, parseArgs, parseOrUsage, type Command } from './args.js'
import { out } from './output.js'

const usage = `usage: calserve serve [--host HOST] [--port PORT] [--models DIR] [--model-name NAME] [--store URL] [--log-level LEVEL]

Starts the calserve HTTP server. It is configured by CALSERVE_* environment variables; these
options set the most common ones:
  --host HOST        CALSERVE_HOST (default 127.0.0.1)
  --port PORT        CALSERVE_PORT (default 8080)
  --models DIR       CALSERVE_MODEL_REPOSITORY (default ./models); a DIR that holds a model.json
                     is one model (KServe's /mnt/models)
  --model-name NAME  CALSERVE_MODEL_NAME: that one model's name (default: DIR's folder name)
  --store URL        CALSERVE_STORE_URL: sqlite:FILE or postgres://… (default sqlite:./data/calserve.db)
  --log-level LEVEL  CALSERVE_LOG_LEVEL: fatal, error, warn, info, debug, trace or silent
  -h, --help         show this help
`

const ENV = { host: 'CALSERVE_HOST', port: 'CALSERVE_PORT', models: 'CALSERVE_MODEL_REPOSITORY', 'model-name': 'CALSERVE_MODEL_NAME', store: 'CALSERVE_STORE_URL', 'log-level': 'CALSERVE_LOG_LEVEL' } as const

export const serve: Command = {
  name: 'serve',
  summary: 'start the server (configured by CALSERVE_* environment variables)',
  usage,
  async run(argv) {
    const { values } = parseOrUsage(usage, () =>
      parseArgs({
        args: argv,
        options: { ...HELP, host: { type: 'string' }, port: { type: 'string' }, models: { type: 'string' }, 'model-name': { type: 'string' }, store: { type: 'string' }, 'log-level': { type: 'string' } },
        strict: true,
        allowPositionals: false,
      }),
    )
    if (values.help) return out(usage)
    for (const [option, variable] of Object.entries(ENV)) {
      const value = values[option as keyof typeof ENV]
      if (value !== undefined) process.env[variable] = value
    }
    // main.ts validates the configuration, listens, and handles signals and shutdown.
    await import('../main.js')
  },
}

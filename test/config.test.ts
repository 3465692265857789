// CALSERVE_* configuration: defaults that serve the demo, parsing, and errors that name the variable.
// (t.match, not t.same: other work adds settings; these are the core ones.)
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults', async (t) => {
  t.match(loadConfig({}), {
    host: '127.0.0.1',
    port: 8080,
    modelRepository: './models',
    storeUrl: 'sqlite:./data/calserve.db',
    executionProviders: ['cpu'],
    logLevel: 'info',
    reconcileMs: 5000,
    bodyLimitBytes: 64 * 1024 * 1024,
    shutdownGraceMs: 10_000,
    // JSON is parsed on the event loop: its limits are what keeps the worst accepted body to
    // milliseconds (SECURITY.md); binary bodies keep the larger one.
    predictBodyLimitBytes: 16 * 1024 * 1024,
    predictJsonBodyLimitBytes: 4 * 1024 * 1024,
    maxJsonNumbers: 262_144,
    fitJsonBodyLimitBytes: 4 * 1024 * 1024,
  })
  t.match(loadConfig({ CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES: '2048', CALSERVE_MAX_JSON_NUMBERS: '1000' }), {
    predictJsonBodyLimitBytes: 2048,
    maxJsonNumbers: 1000,
  })
})

t.test('values are parsed and coerced', async (t) => {
  const c = loadConfig({
    CALSERVE_HOST: '::1',
    CALSERVE_PORT: '0',
    CALSERVE_MODEL_REPOSITORY: '/srv/models',
    CALSERVE_STORE_URL: 'postgres://u@db/calserve',
    CALSERVE_EXECUTION_PROVIDERS: ' CUDA, cpu ,',
    CALSERVE_LOG_LEVEL: 'silent',
    CALSERVE_RECONCILE_MS: '250',
    CALSERVE_BODY_LIMIT_BYTES: '2048',
    CALSERVE_SHUTDOWN_GRACE_MS: '0',
    UNRELATED: 'ignored',
  })
  t.match(c, {
    host: '::1',
    port: 0,
    modelRepository: '/srv/models',
    storeUrl: 'postgres://u@db/calserve',
    executionProviders: ['cuda', 'cpu'],
    logLevel: 'silent',
    reconcileMs: 250,
    bodyLimitBytes: 2048,
    shutdownGraceMs: 0,
  })
  t.equal(loadConfig({ CALSERVE_STORE_URL: 'postgresql://x/y' }).storeUrl, 'postgresql://x/y')
  t.equal(loadConfig({ CALSERVE_STORE_URL: 'sqlite::memory:' }).storeUrl, 'sqlite::memory:')
})

t.test('bad values are a ConfigError naming the variable', async (t) => {
  const bad: Array<[Record<string, string>, string]> = [
    [{ CALSERVE_PORT: 'eighty' }, 'CALSERVE_PORT'],
    [{ CALSERVE_PORT: '65536' }, 'CALSERVE_PORT'],
    [{ CALSERVE_PORT: '-1' }, 'CALSERVE_PORT'],
    [{ CALSERVE_PORT: '80.5' }, 'CALSERVE_PORT'],
    [{ CALSERVE_STORE_URL: 'mysql://db' }, 'CALSERVE_STORE_URL'],
    [{ CALSERVE_EXECUTION_PROVIDERS: 'tpu' }, 'CALSERVE_EXECUTION_PROVIDERS'],
    [{ CALSERVE_EXECUTION_PROVIDERS: ' , ' }, 'CALSERVE_EXECUTION_PROVIDERS'],
    [{ CALSERVE_LOG_LEVEL: 'verbose' }, 'CALSERVE_LOG_LEVEL'],
    [{ CALSERVE_RECONCILE_MS: '10' }, 'CALSERVE_RECONCILE_MS'],
    [{ CALSERVE_BODY_LIMIT_BYTES: '100' }, 'CALSERVE_BODY_LIMIT_BYTES'],
    [{ CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES: '100' }, 'CALSERVE_PREDICT_JSON_BODY_LIMIT_BYTES'],
    [{ CALSERVE_MAX_JSON_NUMBERS: '0' }, 'CALSERVE_MAX_JSON_NUMBERS'],
    [{ CALSERVE_SHUTDOWN_GRACE_MS: '-5' }, 'CALSERVE_SHUTDOWN_GRACE_MS'],
    [{ CALSERVE_MODEL_REPOSITORY: '' }, 'CALSERVE_MODEL_REPOSITORY'],
  ]
  for (const [env, name] of bad) {
    try {
      loadConfig(env)
      t.fail(`${JSON.stringify(env)} should throw`)
    } catch (err) {
      t.ok(err instanceof ConfigError, `${JSON.stringify(env)} throws ConfigError`)
      t.match((err as Error).message, new RegExp(`^invalid configuration:[\\s\\S]*${name}`), `${JSON.stringify(env)} names ${name}`)
    }
  }
  // Every problem is reported at once.
  try {
    loadConfig({ CALSERVE_PORT: 'x', CALSERVE_LOG_LEVEL: 'y' })
    t.fail('should throw')
  } catch (err) {
    t.match((err as Error).message, /CALSERVE_PORT[\s\S]*CALSERVE_LOG_LEVEL|CALSERVE_LOG_LEVEL[\s\S]*CALSERVE_PORT/)
  }
})

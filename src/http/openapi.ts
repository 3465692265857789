// The OpenAPI document: generated from the route schemas, written to openapi/openapi.json by
// `npm run openapi`, and compared with that file by a test so the two can't drift apart.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../app.js'
import { loadConfig } from '../config.js'

/** Builds an app with no models on an in-memory store and returns its document. */
export async function generateOpenApi(): Promise<unknown> {
  const empty = mkdtempSync(join(tmpdir(), 'calserve-openapi-'))
  try {
    const app = await buildApp(
      loadConfig({ CALSERVE_MODEL_REPOSITORY: empty, CALSERVE_STORE_URL: 'sqlite::memory:', CALSERVE_LOG_LEVEL: 'silent' }),
    )
    await app.ready()
    const doc = app.swagger()
    await app.close()
    return doc
  } finally {
    rmSync(empty, { recursive: true, force: true })
  }
}

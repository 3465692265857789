// PostgreSQL for tests: the server named by CALSERVE_TEST_PG_URL (default the machine's own),
// whether it answers, and a fresh schema per test, dropped when the test ends.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'

export const BASE_URL = process.env.CALSERVE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** null when PostgreSQL answers, else why not. */
export async function reachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: BASE_URL, connectionTimeoutMillis: 3000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return null
  } catch (err) {
    return (err as Error).message
  } finally {
    await client.end().catch(() => {})
  }
}

/** A URL naming a fresh schema (created by the first store's init), dropped when `t` ends. */
export function freshSchemaUrl(t: Test, base = BASE_URL): { url: string; schema: string } {
  const schema = `calserve_test_${randomBytes(6).toString('hex')}`
  t.teardown(async () => {
    const admin = new pg.Client({ connectionString: BASE_URL })
    admin.on('error', () => {})
    await admin.connect()
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    } finally {
      await admin.end()
    }
  })
  const u = new URL(base)
  u.searchParams.set('schema', schema)
  return { url: u.toString(), schema }
}

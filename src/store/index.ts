// Chooses the store from CALSERVE_STORE_URL.
import { parsePostgresUrl, PostgresStore } from './postgres.js'
import { SqliteStore, sqlitePath } from './sqlite.js'
import type { Store } from './types.js'

export function createStore(url: string): Store {
  if (url.startsWith('sqlite:')) return new SqliteStore(sqlitePath(url))
  if (/^postgres(ql)?:\/\//.test(url)) return new PostgresStore(parsePostgresUrl(url))
  throw new Error(`unsupported store URL scheme: ${url.split(':')[0]}`)
}

export type * from './types.js'

// Chooses the store from CALSERVE_STORE_URL.
import { SqliteStore, sqlitePath } from './sqlite.js'
import type { Store } from './types.js'

export function createStore(url: string): Store {
  if (url.startsWith('sqlite:')) return new SqliteStore(sqlitePath(url))
  throw new Error(`unsupported store URL scheme: ${url.split(':')[0]}`)
}

export type * from './types.js'

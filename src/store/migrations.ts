// The schema of both SQL stores, as numbered migrations: each is applied once, in order, and
// recorded in schema_migrations. The dialects differ only in the float type and SQLite's
// WITHOUT ROWID; γ is a double in both, so it round-trips bit for bit.
export type Dialect = 'sqlite' | 'postgres'

/** The columns of migration 1 (test seeders write these; later ones default to null). */
export const CALIBRATION_COLUMNS =
  'model, model_version, version, gamma, temperature, method, objective, source_version, created_at, created_by, note, n_samples, digest, metrics'

/** Every column a record is read from and appended with: the first ones, then those later migrations added. */
export const RECORD_COLUMNS = `${CALIBRATION_COLUMNS}, alg_samples, conformal, reference`

export function migrations(dialect: Dialect): string[] {
  const double = dialect === 'sqlite' ? 'REAL' : 'DOUBLE PRECISION'
  const withoutRowid = dialect === 'sqlite' ? ' WITHOUT ROWID' : ''
  return [
    // 1: calibrations and jobs
    `CREATE TABLE calibrations (
       model TEXT NOT NULL,
       model_version INTEGER NOT NULL,
       version INTEGER NOT NULL,
       gamma ${double} NOT NULL,
       temperature ${double} NOT NULL,
       method TEXT NOT NULL,
       objective TEXT,
       source_version INTEGER,
       created_at TEXT NOT NULL,
       created_by TEXT,
       note TEXT,
       n_samples INTEGER,
       digest TEXT,
       metrics TEXT,
       curve TEXT,
       PRIMARY KEY (model, model_version, version)
     )${withoutRowid};
     CREATE TABLE jobs (
       id TEXT PRIMARY KEY,
       model TEXT NOT NULL,
       state TEXT NOT NULL,
       done INTEGER NOT NULL,
       total INTEGER NOT NULL,
       result TEXT,
       error TEXT,
       created_at TEXT NOT NULL,
       updated_at TEXT NOT NULL
     );`,
    // 2: load/unload directives, so a repository change made through one replica reaches all
    `CREATE TABLE model_directives (
       model TEXT NOT NULL,
       generation INTEGER NOT NULL,
       action TEXT NOT NULL,
       created_at TEXT NOT NULL,
       created_by TEXT,
       PRIMARY KEY (model, generation)
     );`,
    // 3: what a fit chose beyond γ and T (issue 15): the ALG variant, the conformal calibration
    // and the reference model with its metrics, JSON like metrics; null on earlier versions.
    `ALTER TABLE calibrations ADD COLUMN alg_samples TEXT;
     ALTER TABLE calibrations ADD COLUMN conformal TEXT;
     ALTER TABLE calibrations ADD COLUMN reference TEXT;`,
  ]
}

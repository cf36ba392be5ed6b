import type { EntityManager } from '@mikro-orm/core';

/** This package's own settings, passed as the second argument of `runStoreConfig`. */
export interface RunStoreSettings {
  /** Seconds from creation to `expires_at` for new runs (the API uses 600). */
  runTtlSeconds: number;
  /**
   * Whether the store names its statements (node-postgres prepared statements), so that PostgreSQL
   * parses and plans each statement text once per connection instead of on every call. Turn it off
   * behind a pooler that does not keep a connection's prepared statements between transactions
   * (PgBouncer in transaction mode before 1.21, or with `max_prepared_statements = 0`).
   */
  namedStatements: boolean;
}

export const DEFAULT_RUN_STORE_SETTINGS: RunStoreSettings = { runTtlSeconds: 600, namedStatements: true };

/** The key under which `runStoreConfig` keeps the settings inside the MikroORM options. */
export const RUN_STORE_SETTINGS_KEY = 'assistantsRunStore';

/** The settings of the ORM behind `em` (defaults when it was configured without `runStoreConfig`). */
export function runStoreSettingsOf(em: EntityManager): RunStoreSettings {
  const all = em.config.getAll() as unknown as Record<string, Partial<RunStoreSettings> | undefined>;
  return { ...DEFAULT_RUN_STORE_SETTINGS, ...all[RUN_STORE_SETTINGS_KEY] };
}

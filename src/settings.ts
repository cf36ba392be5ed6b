import type { EntityManager } from '@mikro-orm/core';
import { RunValidationError } from './errors';

/** This package's own settings, passed as the second argument of `runStoreConfig`. */
export interface RunStoreSettings {
  /** Seconds from creation to `expires_at` for new runs (the API uses 600). */
  runTtlSeconds: number;
  /**
   * Server-side `statement_timeout` of the ORM's connections, in ms (`null`: the server's). A
   * statement cancelled by it changed nothing: `RunStoreUnavailableError` (`statement_timeout`).
   */
  statementTimeoutMs: number | null;
  /** Server-side `lock_timeout` of the ORM's connections, in ms (`null`: the server's): `RunStoreUnavailableError` (`lock_timeout`). */
  lockTimeoutMs: number | null;
  /** How long a call waits for a free pooled connection, in ms, before `RunStoreUnavailableError` (`pool_exhausted`). */
  acquireTimeoutMs: number;
  /** How many times a statement is repeated after a transient failure where repeating is safe (0: never). */
  retries: number;
  /**
   * Whether the store names its statements (node-postgres prepared statements), so that PostgreSQL
   * parses and plans each statement text once per connection instead of on every call. Turn it off
   * behind a pooler that does not keep a connection's prepared statements between transactions
   * (PgBouncer in transaction mode before 1.21, or with `max_prepared_statements = 0`).
   */
  namedStatements: boolean;
}

export const DEFAULT_RUN_STORE_SETTINGS: RunStoreSettings = {
  runTtlSeconds: 600,
  statementTimeoutMs: null,
  lockTimeoutMs: null,
  acquireTimeoutMs: 10_000,
  retries: 2,
  namedStatements: true,
};

type NumericSetting = Exclude<keyof RunStoreSettings, 'namedStatements'>;
const BOOLEAN_SETTINGS = new Set<string>(['namedStatements']);

const LIMITS: Record<NumericSetting, { min: number; max: number; nullable: boolean }> = {
  runTtlSeconds: { min: 1, max: 315_360_000, nullable: false },
  statementTimeoutMs: { min: 1, max: 2_147_483_647, nullable: true },
  lockTimeoutMs: { min: 1, max: 2_147_483_647, nullable: true },
  acquireTimeoutMs: { min: 1, max: 2_147_483_647, nullable: false },
  retries: { min: 0, max: 10, nullable: false },
};

/** The settings given, checked (unknown keys and values out of range refused), over the defaults. */
export function checkRunStoreSettings(settings: unknown): RunStoreSettings {
  if (settings === undefined) return { ...DEFAULT_RUN_STORE_SETTINGS };
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw RunValidationError.of('settings', 'must be an object');
  const out: RunStoreSettings = { ...DEFAULT_RUN_STORE_SETTINGS };
  for (const [key, value] of Object.entries(settings)) {
    if (BOOLEAN_SETTINGS.has(key)) {
      if (value === undefined) continue;
      if (typeof value !== 'boolean') throw RunValidationError.of(`settings.${key}`, 'must be true or false');
      (out as unknown as Record<string, unknown>)[key] = value;
      continue;
    }
    const limit = LIMITS[key as NumericSetting];
    if (limit === undefined || !Object.prototype.hasOwnProperty.call(LIMITS, key)) {
      throw RunValidationError.of(`settings.${key.slice(0, 40)}`, `is not a setting (${[...Object.keys(LIMITS), ...BOOLEAN_SETTINGS].join(', ')})`);
    }
    if (value === undefined) continue;
    if (value === null && limit.nullable) {
      (out as unknown as Record<string, unknown>)[key] = null;
      continue;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < limit.min || value > limit.max) {
      throw RunValidationError.of(`settings.${key}`, `must be a whole number from ${limit.min} to ${limit.max}${limit.nullable ? ', or null' : ''}`);
    }
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}

/** The key under which `runStoreConfig` keeps the settings inside the MikroORM options. */
export const RUN_STORE_SETTINGS_KEY = 'assistantsRunStore';

/** The settings of the ORM behind `em` (defaults when it was configured without `runStoreConfig`). */
export function runStoreSettingsOf(em: EntityManager): RunStoreSettings {
  const all = em.config.getAll() as unknown as Record<string, Partial<RunStoreSettings> | undefined>;
  return { ...DEFAULT_RUN_STORE_SETTINGS, ...all[RUN_STORE_SETTINGS_KEY] };
}

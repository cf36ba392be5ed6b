import path from 'node:path';
import { ReflectMetadataProvider } from '@mikro-orm/core';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import * as entities from './entities';
import { quotedSchema } from './entities/schema-names';
import { mapJsonText } from './entities/json-text.type';
import { checkRunStoreSettings, RUN_STORE_SETTINGS_KEY, type RunStoreSettings } from './settings';

/** Every entity of the package, for a service that registers them in its own MikroORM config. */
export const runStoreEntities = Object.values(entities);

/**
 * The package's migrations: `migrations/` beside `src/` in the repository (TypeScript) and beside
 * `dist/src/` in the built package (JavaScript), so one relative path serves both.
 */
export const runStoreMigrationsPath = path.resolve(__dirname, '..', 'migrations');

/** The table that records which of the package's migrations ran. */
export const RUN_STORE_MIGRATIONS_TABLE = 'run_store_migrations';

/** knex's own log lines ("Connection Error: …" on every lost connection) go nowhere: the library prints nothing. */
const silent = () => undefined;
const SILENT_KNEX_LOG = { warn: silent, error: silent, deprecate: silent, debug: silent };

/**
 * The connection settings that carry the store's settings to the server (startup parameters of
 * every connection, so a timed-out statement is cancelled by the server and changes nothing).
 */
function connectionSettings(settings: RunStoreSettings): Record<string, number> {
  return {
    ...(settings.statementTimeoutMs !== null ? { statement_timeout: settings.statementTimeoutMs } : {}),
    ...(settings.lockTimeoutMs !== null ? { lock_timeout: settings.lockTimeoutMs } : {}),
  };
}

/**
 * A complete MikroORM config for PostgreSQL with this package's entities, metadata provider and
 * migrations. `overrides` win over the defaults (`migrations`, `discovery`, `pool` and
 * `driverOptions` are merged key by key); pass `clientUrl` (no default database is set).
 * `settings` are the package's own (README "Settings"); an unknown key or a value out of range is
 * a `RunValidationError`.
 */
export function runStoreConfig(overrides: Options = {}, settings: Partial<RunStoreSettings> = {}): Options {
  const checked = checkRunStoreSettings(settings);
  // the schema of the store's tables is checked here too, so a bad name fails at configuration
  // (a name from MIKRO_ORM_SCHEMA, merged by MikroORM.init later, is checked by its first statement)
  quotedSchema(overrides.schema);
  const { migrations, discovery, pool, driverOptions, ...rest } = overrides;
  const driver = (driverOptions ?? {}) as Record<string, unknown>;
  return defineConfig({
    entities: runStoreEntities,
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    // `json` columns are told apart from `jsonb` ones in schema diffs (see JsonTextType).
    discovery: { warnWhenNoEntities: false, ...discovery, getMappedType: mapJsonText(discovery?.getMappedType) },
    migrations: {
      path: runStoreMigrationsPath,
      pathTs: runStoreMigrationsPath,
      glob: '!(*.d).{js,ts}',
      tableName: RUN_STORE_MIGRATIONS_TABLE,
      transactional: true,
      allOrNothing: true,
      // Off at run time: after every up/down the migrator would rewrite the snapshot inside the
      // installed package. The repository's CLI config (mikro-orm.config.ts) turns it on.
      snapshot: false,
      snapshotName: '.snapshot-run-store',
      emit: 'ts',
      ...migrations,
    },
    allowGlobalContext: false,
    ...rest,
    pool: { acquireTimeoutMillis: checked.acquireTimeoutMs, ...pool },
    driverOptions: {
      log: SILENT_KNEX_LOG,
      ...driver,
      connection: { ...connectionSettings(checked), ...(driver.connection as Record<string, unknown> | undefined) },
    },
    [RUN_STORE_SETTINGS_KEY]: checked,
  } as Options);
}

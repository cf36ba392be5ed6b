import path from 'node:path';
import { ReflectMetadataProvider } from '@mikro-orm/core';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import * as entities from './entities';
import { mapJsonText } from './entities/json-text.type';
import { DEFAULT_RUN_STORE_SETTINGS, RUN_STORE_SETTINGS_KEY, type RunStoreSettings } from './settings';

/** Every entity of the package, for a service that registers them in its own MikroORM config. */
export const runStoreEntities = Object.values(entities);

/**
 * The package's migrations: `migrations/` beside `src/` in the repository (TypeScript) and beside
 * `dist/src/` in the built package (JavaScript), so one relative path serves both.
 */
export const runStoreMigrationsPath = path.resolve(__dirname, '..', 'migrations');

/** The table that records which of the package's migrations ran. */
export const RUN_STORE_MIGRATIONS_TABLE = 'run_store_migrations';

/**
 * A complete MikroORM config for PostgreSQL with this package's entities, metadata provider and
 * migrations. `overrides` win over the defaults (`migrations` and `discovery` are merged key by key); pass
 * `clientUrl` (no default database is set). `settings` are the package's own (the run TTL).
 */
export function runStoreConfig(overrides: Options = {}, settings: Partial<RunStoreSettings> = {}): Options {
  const { migrations, discovery, ...rest } = overrides;
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
    [RUN_STORE_SETTINGS_KEY]: { ...DEFAULT_RUN_STORE_SETTINGS, ...settings },
  } as Options);
}

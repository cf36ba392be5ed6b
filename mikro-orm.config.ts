/**
 * The config the MikroORM CLI reads (`npx mikro-orm migration:check`, `migration:up`, …).
 * The database comes from DATABASE_URL; nothing else is needed. `MIKRO_ORM_SCHEMA` (MikroORM's own
 * variable) puts the store's tables in that schema.
 */
import 'reflect-metadata';
import { runStoreConfig } from './src/config';

/** A schema other than PostgreSQL's default: the committed snapshot (of `public`) does not describe it. */
const inSchema = (process.env.MIKRO_ORM_SCHEMA ?? 'public') !== 'public';

export default runStoreConfig({
  clientUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/assistants_run_store',
  // migration:create and migration:check diff the entities against the committed snapshot; in
  // another schema they diff against the database instead (and never rewrite the snapshot).
  migrations: { snapshot: !inSchema },
});

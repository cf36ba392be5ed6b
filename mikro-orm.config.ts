/**
 * The config the MikroORM CLI reads (`npx mikro-orm migration:check`, `migration:up`, …).
 * The database comes from DATABASE_URL; nothing else is needed.
 */
import 'reflect-metadata';
import { runStoreConfig } from './src/config';

export default runStoreConfig({
  clientUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/assistants_run_store',
  // migration:create and migration:check diff the entities against the committed snapshot.
  migrations: { snapshot: true },
});

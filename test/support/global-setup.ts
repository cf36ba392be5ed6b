/**
 * Once per test run: start (or pick) the server, and build a migrated template database that
 * every test file copies (`create database … template …`), so no file migrates on its own.
 */
import 'reflect-metadata';
import { MikroORM } from '@mikro-orm/postgresql';
import { runStoreConfig } from '../../src/config';
import { startTestServer, type TestServer } from './server';
import { EmbeddedPostgresError } from '../../src/dev/embedded-postgres';
import { createDatabase, uniqueDatabaseName, withDatabase } from '../../src/dev/databases';

declare global {
  // eslint-disable-next-line no-var
  var __ARS_TEST_SERVER__: { server: TestServer; template: string } | undefined;
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const server = await startTestServer().catch((error: unknown) => {
    // It says what to do in one line; jest prints an error's stack, so the stack is that line.
    if (error instanceof EmbeddedPostgresError) error.stack = error.message;
    throw error;
  });
  const template = uniqueDatabaseName('ars_template');
  await createDatabase(server.adminUrl, template);
  const orm = await MikroORM.init(runStoreConfig({ clientUrl: withDatabase(server.adminUrl, template), migrations: { silent: true } }));
  try {
    await orm.getMigrator().up();
  } finally {
    await orm.close(true);
  }
  process.env.ARS_TEST_ADMIN_URL = server.adminUrl;
  process.env.ARS_TEST_TEMPLATE_DB = template;
  process.env.ARS_TEST_SERVER_KIND = server.kind;
  globalThis.__ARS_TEST_SERVER__ = { server, template };
  process.stdout.write(`\n[test database] ${server.kind} server ready, template ${template} migrated in ${Date.now() - started} ms\n`);
}

/**
 * A fresh database for one test file, copied from the run's migrated template and dropped
 * after the file: `const db = useTestDatabase();` at the top of a test file.
 */
import 'reflect-metadata';
import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { runStoreConfig } from '../../src/config';
import { RunObject } from '../../src/entities/run-object.entity';
import type { RunRepository } from '../../src/repositories/run.repository';
import type { RunStoreSettings } from '../../src/settings';
import { createDatabase, dropDatabase, uniqueDatabaseName, withDatabase } from '../../src/dev/databases';

export interface TestDatabase {
  /** The file's database URL. */
  readonly url: string;
  /** The file's ORM (pool of up to 30 connections, so races really run in parallel). */
  readonly orm: MikroORM;
  /** A fresh entity manager (a fork: one unit of work). */
  em(): EntityManager;
  /** The run repository on a fresh fork. */
  runs(): RunRepository;
  /** A plain SQL query on a new connection (to check what is really stored). */
  sql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Another ORM on the same database (own pool, own config: a query logger, settings). */
  createOrm(overrides?: Options, settings?: Partial<RunStoreSettings>): Promise<MikroORM>;
}

export function useTestDatabase(overrides: Options = {}, settings: Partial<RunStoreSettings> = {}): TestDatabase {
  const adminUrl = process.env.ARS_TEST_ADMIN_URL;
  const template = process.env.ARS_TEST_TEMPLATE_DB;
  const name = uniqueDatabaseName('ars_test');
  const extraOrms: MikroORM[] = [];
  let orm: MikroORM | undefined;
  let url = '';

  const createOrm = async (more: Options = {}, moreSettings: Partial<RunStoreSettings> = {}) => {
    const created = await MikroORM.init(
      runStoreConfig({ clientUrl: url, pool: { min: 0, max: 30 }, ...overrides, ...more }, { ...settings, ...moreSettings }),
    );
    return created;
  };

  beforeAll(async () => {
    if (!adminUrl || !template) throw new Error('the test database global setup did not run (see jest.config.js)');
    await createDatabase(adminUrl, name, template);
    url = withDatabase(adminUrl, name);
    orm = await createOrm();
  });

  afterAll(async () => {
    await orm?.close(true);
    await Promise.all(extraOrms.map((o) => o.close(true)));
    if (adminUrl) await dropDatabase(adminUrl, name);
  });

  const ready = (): MikroORM => {
    if (!orm) throw new Error('useTestDatabase(): used outside a test');
    return orm;
  };

  return {
    get url() {
      return url;
    },
    get orm() {
      return ready();
    },
    em: () => ready().em.fork(),
    runs: () => ready().em.fork().getRepository(RunObject),
    async sql(text, params = []) {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(text, params)).rows;
      } finally {
        await client.end();
      }
    },
    async createOrm(more, moreSettings) {
      const created = await createOrm(more, moreSettings);
      extraOrms.push(created);
      return created;
    },
  };
}

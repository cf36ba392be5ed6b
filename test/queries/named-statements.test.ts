/**
 * Named statements on real PostgreSQL: the store's statements are prepared on the connection
 * (`pg_prepared_statements`) with their parameters bound, not when `namedStatements` is off; at
 * most `MAX_NAMED_STATEMENTS` texts are named; and a column whose type changes under prepared
 * statements (a migration while the process runs) does not break the next call.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { RunObject } from '../../src/entities/run-object.entity';
import { MAX_NAMED_STATEMENTS } from '../../src/repositories/executor';
import { apiRunWithEveryPart, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

/** The statements prepared on the connection of `em`'s transaction. */
async function prepared(em: EntityManager): Promise<{ name: string; statement: string }[]> {
  return em.getConnection().execute('select name, statement from pg_prepared_statements order by name', [], 'all', em.getTransactionContext());
}

const run = apiRunWithEveryPart({ thread_id: uid('thread') });

beforeAll(async () => {
  await db.runs().importRun(run);
});

it('a read is prepared once on its connection, its parameters bound ($1), and reused', async () => {
  await db.orm.em.fork().transactional(async (em) => {
    const runs = em.getRepository(RunObject);
    const before = (await prepared(em)).length;
    await runs.api.getById(run.id);
    await runs.getById(run.id);
    await runs.api.getById(run.id);
    const after = await prepared(em);
    const ours = after.filter((p) => p.name.startsWith('ars'));
    expect(after.length - before).toBeLessThanOrEqual(2);
    const byId = ours.filter((p) => p.statement.endsWith('from "run_object" r where r."id" = $1'));
    expect(byId).toHaveLength(2); // the API form and the graph form, each prepared once
    for (const p of ours) expect(p.statement).not.toContain(run.id);
  });
});

it('with namedStatements off, nothing is prepared', async () => {
  const orm = await db.createOrm({}, { namedStatements: false });
  try {
    await orm.em.fork().transactional(async (em) => {
      const runs = em.getRepository(RunObject);
      await runs.api.getById(run.id);
      await runs.listByThread(run.thread_id);
      expect((await prepared(em)).filter((p) => p.name.startsWith('ars'))).toEqual([]);
    });
  } finally {
    await orm.close(true);
  }
});

it(`at most ${MAX_NAMED_STATEMENTS} texts are named: past that, statements run unnamed and still work`, async () => {
  await db.orm.em.fork().transactional(async (em) => {
    const runs = em.getRepository(RunObject);
    // a page's limit is part of its text: 3 lists × 100 limits × 2 forms = 600 texts
    for (let limit = 1; limit <= 100; limit++) {
      for (const reads of [runs, runs.api]) {
        expect((await reads.listByThread(run.thread_id, { limit })).data.map((r) => r.id)).toEqual([run.id]);
        expect((await reads.listByAssistant(run.assistant_id, { limit })).data).toHaveLength(1);
        expect((await reads.listByStatus('requires_action', { limit })).data).toHaveLength(1);
      }
    }
    const ours = (await prepared(em)).filter((p) => p.name.startsWith('ars'));
    expect(ours.length).toBeGreaterThan(MAX_NAMED_STATEMENTS / 2);
    expect(ours.length).toBeLessThanOrEqual(MAX_NAMED_STATEMENTS);
  });
});

it('a column type changed under prepared statements: the next call prepares again and succeeds', async () => {
  // every connection of the pool prepares the graph read (which selects `metadata` as a column)
  const [{ type }] = await db.sql<{ type: string }>(`select data_type as type from information_schema.columns where table_name = 'run_object' and column_name = 'metadata'`);
  const other = type === 'json' ? 'jsonb' : 'json';
  const orm = await db.createOrm({ pool: { min: 0, max: 3 } });
  try {
    await Promise.all(Array.from({ length: 6 }, () => orm.em.fork().getRepository(RunObject).getById(run.id)));
    await db.sql(`alter table run_object alter column metadata type ${other} using metadata::${other}`);
    for (let i = 0; i < 6; i++) {
      const back = await orm.em.fork().getRepository(RunObject).getById(run.id);
      expect(back.toJSON()).toEqual(JSON.parse(JSON.stringify(await db.runs().api.getById(run.id))));
    }
  } finally {
    await orm.close(true);
    await db.sql(`alter table run_object alter column metadata type ${type} using metadata::${type}`);
  }
});

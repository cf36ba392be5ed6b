/**
 * The lifecycle holds on every path, not only the repository's transitions: the database refuses
 * a status change the transition table does not list (the `run_object_check_status` trigger),
 * and the ORM's own writes through the repository (`nativeUpdate`, `upsert`, `assign` + `flush`)
 * fail with `InvalidRunTransitionError`, writing nothing.
 */
import { wrap } from '@mikro-orm/core';
import { Client } from 'pg';
import { RUN_STATUSES, type RunStatus } from '../../src/api/types';
import { InvalidRunTransitionError, RunObject } from '../../src';
import { isStatusChange, STATUS_CHANGES, TRANSITIONS } from '../../src/lifecycle/transitions';
import { apiRunV2 } from '../factories';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

const statusOf = async (id: string) => (await db.sql<{ status: RunStatus }>('select status from run_object where id = $1', [id]))[0].status;

test('the trigger allows exactly the status changes of the transition table (all 81 pairs, by plain SQL)', async () => {
  const pairs = RUN_STATUSES.flatMap((from) => RUN_STATUSES.map((to) => [from, to] as const));
  const ids = await Promise.all(pairs.map(async ([from]) => (await db.runs().importRun(apiRunV2({ status: from }))).id));
  const client = new Client({ connectionString: db.url });
  await client.connect();
  const seen: string[] = [];
  try {
    for (let i = 0; i < pairs.length; i++) {
      const [from, to] = pairs[i];
      try {
        await client.query('update run_object set status = $1 where id = $2', [to, ids[i]]);
        if (from !== to) seen.push(`${from}>${to}`);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('RS001');
        expect(await statusOf(ids[i])).toBe(from);
      }
    }
  } finally {
    await client.end();
  }
  expect(seen.sort()).toEqual([...STATUS_CHANGES].sort());
  // the table is not trivially small (the test would pass for an empty one otherwise)
  expect(STATUS_CHANGES.size).toBe(new Set(Object.values(TRANSITIONS).flatMap((t) => Object.entries(t.moves).map(([f, to]) => `${f}>${to}`))).size);
  expect(STATUS_CHANGES.size).toBeGreaterThan(15);
});

test('nativeUpdate to a status the lifecycle does not allow: InvalidRunTransitionError, nothing written', async () => {
  const run = await db.runs().importRun(apiRunV2({ status: 'completed', expires_at: null, completed_at: 1_716_000_100 }));
  const error = await db.runs().nativeUpdate({ id: run.id }, { status: 'queued' }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidRunTransitionError);
  expect(error).toMatchObject({ runId: run.id, currentStatus: 'completed' });
  expect(await statusOf(run.id)).toBe('completed');
  // a change the table lists goes through
  const queued = await db.runs().importRun(apiRunV2({ status: 'queued' }));
  expect(await db.runs().nativeUpdate({ id: queued.id }, { status: 'in_progress' })).toBe(1);
  expect(await statusOf(queued.id)).toBe('in_progress');
});

test('assign + flush to an illegal status: InvalidRunTransitionError before anything is sent', async () => {
  const em = db.em();
  const run = await em.getRepository(RunObject).importRun(apiRunV2({ status: 'failed', last_error: { code: 'server_error', message: 'x' }, expires_at: null, failed_at: 1_716_000_100 }));
  wrap(run).assign({ status: 'in_progress' });
  await expect(em.flush()).rejects.toBeInstanceOf(InvalidRunTransitionError);
  expect(await statusOf(run.id)).toBe('failed');
});

test('upsert to an illegal status: InvalidRunTransitionError, nothing written', async () => {
  const run = await db.runs().importRun(apiRunV2({ status: 'expired' }));
  const error = await db.runs().upsert({ id: run.id, status: 'queued', threadId: run.threadId, assistantId: run.assistantId, model: run.model, createdAt: run.createdAt, metadata: {} }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InvalidRunTransitionError);
  expect(await statusOf(run.id)).toBe('expired');
});

test("importRun may still replace a run with any status (a mirror takes the API's word)", async () => {
  const run = await db.runs().importRun(apiRunV2({ status: 'completed', expires_at: null, completed_at: 1_716_000_100 }));
  await db.runs().importRun(apiRunV2({ id: run.id, thread_id: run.threadId, assistant_id: run.assistantId, status: 'queued' }));
  expect(await statusOf(run.id)).toBe('queued');
  expect(isStatusChange('completed', 'queued')).toBe(false);
});

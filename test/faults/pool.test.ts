/**
 * A pool of one connection and the caller's own transactions (issue 14: "no operation may hang").
 * Inside `em.transactional` the store must do everything on the caller's connection: a call that
 * asks the pool for a second one waits for the acquire timeout (the store's `acquireTimeoutMs`; here
 * `SECOND_CONNECTION_WAIT_MS`, so a test shows the wait without taking its default) — every call
 * here must settle well before it. And a call outside while the only connection is taken must fail
 * typed, as pool exhaustion.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { RunObject } from '../../src/entities/run-object.entity';
import type { RunRepository } from '../../src/repositories/run.repository';
import { apiRunV2, uid } from '../factories';
import { WRITE_CASES, type Prepared } from './cases';
import { describeOutcome, timed, useFaultStore, orHung, type Outcome } from './support';

/** The pool's acquire timeout: a call that waits this long asked for a second connection, ms. */
const SECOND_CONNECTION_WAIT_MS = 2_000;
/** A call that has not settled after the acquire timeout and this is a hang, ms. */
const SLACK_MS = 1_000;
/** The acquire timeout of the pool-exhaustion case, ms. */
const ACQUIRE_TIMEOUT_MS = 500;

const store = useFaultStore();

/** The ORM on a pool of one (a test's calls are waited for, bounded, before the next test uses it). */
let orm: MikroORM;
beforeAll(async () => {
  orm = await store().createOrm({ pool: { min: 0, max: 1 } }, { acquireTimeoutMs: SECOND_CONNECTION_WAIT_MS });
});

/** `work` inside `em.transactional` on the pool of one, bounded (a hung one is waited for, bounded, before the next test). */
async function inTransaction<T>(work: (repo: RunRepository) => Promise<T>): Promise<Outcome<T>> {
  const outcome = await timed(
    orm.em.fork().transactional((em) => work(em.getRepository(RunObject))),
    SECOND_CONNECTION_WAIT_MS + SLACK_MS,
  );
  if (outcome.state === 'hung') await orHung(outcome.settled, SECOND_CONNECTION_WAIT_MS * 2);
  return outcome;
}

const statusOf = async (p: Prepared): Promise<string | undefined> =>
  (await store().sql<{ status: string }>(`select status from run_object where ${p.id ? 'id = $1' : 'thread_id = $1'}`, [p.id || p.threadId]))[0]?.status;

describe('pool max 1 inside caller transactions', () => {
  it.each(WRITE_CASES.map((c) => [c.kind, c] as const))('%s, prepared and done inside em.transactional, settles and commits', async (_kind, c) => {
    let prepared: Prepared | undefined;
    const outcome = await inTransaction(async (repo) => {
      prepared = await c.prepare(repo);
      return c.act(repo, prepared);
    });
    expect(describeOutcome(outcome)).toEqual({ state: 'ok' });
    expect(outcome.ms).toBeLessThan(SECOND_CONNECTION_WAIT_MS);
    expect(await statusOf(prepared!)).toBe(c.after);
    // The pool is not stuck: the same ORM serves a call outside a transaction.
    expect((await orm.em.fork().getRepository(RunObject).create({ thread_id: uid('thread'), assistant_id: uid('asst'), model: 'gpt-4o' })).status).toBe('queued');
  });

  it('the thread lock inside em.transactional: ThreadHasActiveRunError at once, the transaction rolls back, the pool serves the next call', async () => {
    const threadId = uid('thread');
    const outcome = await inTransaction(async (repo) => {
      await repo.create({ thread_id: threadId, assistant_id: uid('asst'), model: 'gpt-4o' });
      return repo.create({ thread_id: threadId, assistant_id: uid('asst'), model: 'gpt-4o' });
    });
    expect(describeOutcome(outcome)).toEqual({ state: 'error', class: 'ThreadHasActiveRunError' });
    expect(outcome.ms).toBeLessThan(SECOND_CONNECTION_WAIT_MS);
    expect(await store().sql('select id from run_object where thread_id = $1', [threadId])).toEqual([]);
    expect((await orm.em.fork().getRepository(RunObject).create({ thread_id: threadId, assistant_id: uid('asst'), model: 'gpt-4o' })).threadId).toBe(threadId);
  });

  it('importRuns meeting the thread lock inside em.transactional settles: every good line written and the bad one reported, or a typed error and nothing written', async () => {
    const threadId = uid('thread');
    const batch = [apiRunV2({ thread_id: threadId }), apiRunV2({ thread_id: threadId }), apiRunV2()];
    const outcome = await inTransaction((repo) => repo.importRuns(batch));
    const stored = (await store().sql<{ id: string }>('select id from run_object where id = any($1::text[]) order by id', [batch.map((r) => r.id)])).map((r) => r.id);
    if (outcome.state === 'ok') {
      expect(outcome.value.map((r) => r?.constructor.name ?? null)).toEqual([null, 'ThreadHasActiveRunError', null]);
      expect(stored).toEqual([batch[0].id, batch[2].id].sort());
    } else {
      expect(describeOutcome(outcome)).toEqual({ state: 'error', class: expect.not.stringMatching(/^not a RunStoreError$/) });
      expect(stored).toEqual([]);
    }
    expect(outcome.ms).toBeLessThan(SECOND_CONNECTION_WAIT_MS);
  });
});

describe('pool exhausted', () => {
  it(`a call that finds the only connection taken fails after the acquire timeout as pool_exhausted, typed and retryable, writing nothing`, async () => {
    const small = await store().createOrm({ pool: { min: 0, max: 1 } }, { acquireTimeoutMs: ACQUIRE_TIMEOUT_MS });
    const threadId = uid('thread');
    const outside = await small.em.fork().transactional(async (em) => {
      await em.getRepository(RunObject).create({ thread_id: uid('thread'), assistant_id: uid('asst'), model: 'gpt-4o' });
      return timed(small.em.fork().getRepository(RunObject).create({ thread_id: threadId, assistant_id: uid('asst'), model: 'gpt-4o' }), ACQUIRE_TIMEOUT_MS + SLACK_MS);
    });
    if (outside.state === 'hung') await orHung(outside.settled, SECOND_CONNECTION_WAIT_MS);
    const { code: _code, ...described } = describeOutcome(outside);
    expect(described).toEqual({ state: 'error', class: 'RunStoreUnavailableError', reason: 'pool_exhausted', retryable: true, outcomeUnknown: false });
    expect(outside.ms).toBeGreaterThanOrEqual(ACQUIRE_TIMEOUT_MS * 0.9);
    expect(await store().sql('select id from run_object where thread_id = $1', [threadId])).toEqual([]);
    // Once the connection is free again, the same ORM serves the call.
    expect((await small.em.fork().getRepository(RunObject).create({ thread_id: threadId, assistant_id: uid('asst'), model: 'gpt-4o' })).threadId).toBe(threadId);
    await small.close(true);
  });
});

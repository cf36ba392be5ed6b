/**
 * Server-side timeouts as store settings (issue 14): `lockTimeoutMs` against a row lock another
 * session holds, for every kind of write, and `statementTimeoutMs` against a table lock (a
 * migration holding `access exclusive`), for reads and writes. Each call must fail in time with a
 * typed, retryable error, leave nothing written and no session of the app still waiting (the server
 * cancelled it: a client-side timeout would leave the statement running, free to commit later), and
 * succeed once the lock is gone.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { WRITE_CASES, type Prepared, type WriteCase } from './cases';
import { holdTransaction } from '../support/lock-wait';
import {
  describeOutcome,
  sessionsWaitingForLocks,
  storedShapes,
  timed,
  useFaultStore,
  orHung,
  type FaultStore,
  type Outcome,
} from './support';

const LOCK_TIMEOUT_MS = 300;
const STATEMENT_TIMEOUT_MS = 300;
/** A timed-out call must have failed by its timeout plus this, ms. */
const SLACK_MS = 1_500;
/** A call still pending after the lock is released must end by then (it is waited for, not abandoned), ms. */
const DRAIN_MS = 10_000;

const store = useFaultStore();
let lockOrm: MikroORM;
let statementOrm: MikroORM;

beforeAll(async () => {
  lockOrm = await store().createOrm({ pool: { min: 0, max: 20 } }, { lockTimeoutMs: LOCK_TIMEOUT_MS });
  statementOrm = await store().createOrm({ pool: { min: 0, max: 20 } }, { statementTimeoutMs: STATEMENT_TIMEOUT_MS });
});

/** What the write can have changed: the run's shape, and the runs on its thread. */
async function footprint(s: FaultStore, p: Prepared): Promise<unknown> {
  const shapes = await storedShapes(s, p.id ? [p.id] : []);
  const [{ n }] = await s.sql<{ n: number }>('select count(*)::int as n from run_object where thread_id = $1', [p.threadId]);
  return { shape: shapes.get(p.id) ?? null, runsOnThread: n };
}

/** After the bound: the app's sessions still waiting for a lock; then the lock is released and a pending call drained. */
async function settle(s: FaultStore, outcome: Outcome<unknown>, release: () => Promise<void>): Promise<number> {
  const waiting = await sessionsWaitingForLocks(s);
  await release();
  if (outcome.state === 'hung') await orHung(outcome.settled, DRAIN_MS);
  return waiting;
}

const timedOut = (reason: string, code: string) => ({ state: 'error', class: 'RunStoreUnavailableError', reason, retryable: true, outcomeUnknown: false, code });

describe('a row lock held by another session, with lockTimeoutMs set', () => {
  const lockFor = (c: WriteCase, p: Prepared): [string, unknown[]] =>
    c.waitsOn === 'row'
      ? ['select 1 from run_object where id = $1 for update', [p.id]]
      : // An uncommitted active run on the thread: a create there waits on the thread lock's unique index.
        [`insert into run_object (id, created_at, thread_id, assistant_id, status, model) values ('run_lock_holder', now(), $1, 'asst_lock', 'queued', 'gpt-4o')`, [p.threadId]];

  // (claimNext and expireOverdue take no row another session holds: `skip locked`, below)
  it.each(WRITE_CASES.filter((c) => c.kind !== 'claimNext' && c.kind !== 'expireOverdue').map((c) => [c.kind, c] as const))(
    `%s gives up after lockTimeoutMs (${LOCK_TIMEOUT_MS} ms), typed and retryable, writes nothing, leaves no session waiting, then succeeds`,
    async (_kind, c) => {
      const s = store();
      const p = await c.prepare(s.runs(lockOrm));
      const before = await footprint(s, p);
      const lock = await holdTransaction(s);
      await lock.query(...lockFor(c, p));
      const outcome = await timed(c.act(s.runs(lockOrm), p), LOCK_TIMEOUT_MS + SLACK_MS);
      const waiting = await settle(s, outcome, () => lock.rollback());

      expect(describeOutcome(outcome)).toEqual(timedOut('lock_timeout', '55P03'));
      expect(outcome.ms).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS * 0.9);
      expect(waiting).toBe(0);
      expect(await footprint(s, p)).toEqual(before);
      await c.act(s.runs(lockOrm), p);
      const [{ status }] = await s.sql<{ status: string }>('select status from run_object where id = $1 or (thread_id = $2 and $1 = $3)', [p.id, p.threadId, '']);
      expect(status).toBe(c.after);
    },
  );

  it('claimNext does not wait for a locked run: it skips it at once, and takes it once the lock is gone', async () => {
    const s = store();
    const claim = WRITE_CASES.find((c) => c.kind === 'claimNext')!;
    const p = await claim.prepare(s.runs(lockOrm));
    const lock = await holdTransaction(s);
    await lock.query('select 1 from run_object where id = $1 for update', [p.id]);
    const outcome = await timed(s.runs(lockOrm).claimNext({ assistant_id: p.assistantId }), LOCK_TIMEOUT_MS);
    await settle(s, outcome, () => lock.rollback());
    expect(describeOutcome(outcome)).toEqual({ state: 'ok' });
    expect(outcome.state === 'ok' && outcome.value).toBeNull();
    expect((await s.runs(lockOrm).claimNext({ assistant_id: p.assistantId }))?.id).toBe(p.id);
  });

  it('expireOverdue does not wait for a locked overdue run: it skips it at once, and expires it once the lock is gone', async () => {
    const s = store();
    const expire = WRITE_CASES.find((c) => c.kind === 'expireOverdue')!;
    const p = await expire.prepare(s.runs(lockOrm));
    const statusOf = async () => (await s.sql<{ status: string }>('select status from run_object where id = $1', [p.id]))[0].status;
    const lock = await holdTransaction(s);
    await lock.query('select 1 from run_object where id = $1 for update', [p.id]);
    const outcome = await timed(s.runs(lockOrm).expireOverdue(), LOCK_TIMEOUT_MS);
    await settle(s, outcome, () => lock.rollback());
    expect(describeOutcome(outcome)).toEqual({ state: 'ok' });
    expect(outcome.state === 'ok' && outcome.value).toBe(0);
    expect(await statusOf()).toBe('queued');
    expect(await s.runs(lockOrm).expireOverdue()).toBe(1);
    expect(await statusOf()).toBe('expired');
  });
});

describe('a table lock (access exclusive, as a migration takes), with statementTimeoutMs set', () => {
  it(`reads and writes each fail after statementTimeoutMs (${STATEMENT_TIMEOUT_MS} ms), typed and retryable, write nothing, leave no session waiting, then succeed`, async () => {
    const s = store();
    const cases = WRITE_CASES.filter((c) => ['create', 'importRuns', 'start', 'claimNext', 'expireOverdue', 'updateMetadata'].includes(c.kind));
    const prepared = await Promise.all(cases.map((c) => c.prepare(s.runs(statementOrm))));
    const reads = {
      findById: () => s.runs(statementOrm).findById(prepared[2].id),
      listByThread: () => s.runs(statementOrm).listByThread(prepared[2].threadId),
      countByStatus: () => s.runs(statementOrm).countByStatus(),
      usageTotals: () => s.runs(statementOrm).usageTotals(),
    };
    const before = await Promise.all(prepared.map((p) => footprint(s, p)));
    const lock = await holdTransaction(s);
    await lock.query('lock table run_object in access exclusive mode');
    const calls: [string, Promise<unknown>][] = [
      ...cases.map((c, i) => [c.kind, c.act(s.runs(statementOrm), prepared[i])] as [string, Promise<unknown>]),
      ...Object.entries(reads).map(([name, read]) => [name, read()] as [string, Promise<unknown>]),
    ];
    const outcomes = await Promise.all(calls.map(([, call]) => timed(call, STATEMENT_TIMEOUT_MS + SLACK_MS)));
    const waiting = await sessionsWaitingForLocks(s);
    await lock.rollback();
    await Promise.all(outcomes.map((o) => (o.state === 'hung' ? orHung(o.settled, DRAIN_MS) : null)));

    const described = Object.fromEntries(calls.map(([name], i) => [name, describeOutcome(outcomes[i])]));
    expect(described).toEqual(Object.fromEntries(calls.map(([name]) => [name, timedOut('statement_timeout', '57014')])));
    expect(outcomes.every((o) => o.ms >= STATEMENT_TIMEOUT_MS * 0.9)).toBe(true);
    expect(waiting).toBe(0);
    expect(await Promise.all(prepared.map((p) => footprint(s, p)))).toEqual(before);
    for (const [i, c] of cases.entries()) await c.act(s.runs(statementOrm), prepared[i]);
    for (const read of Object.values(reads)) await read();
  });
});

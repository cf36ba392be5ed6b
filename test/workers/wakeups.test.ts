/**
 * Wake-ups (issue 12): the trigger's notifications (only committed changes, every path, small
 * payloads), a waiting worker woken by a new run, a server waiting for a run's status, one
 * listening connection per ORM shared by every wait, and nothing lost when the listening backend
 * is killed or the server restarts while waits wait (each wait checks again once it listens). On a
 * private cluster (test/support/pg-cluster.ts): backends are killed and the server restarted.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, type LogContext } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Client, type Notification } from 'pg';
import { RunObject, RunNotFoundError, RunStoreUnavailableError, RunValidationError, WaitAbortedError, type RunRepository } from '../../src';
import { QUEUED_CHANNEL, STATUS_CHANNEL } from '../../src/entities/schema-names';
import { openDedicated } from '../../src/repositories/executor';
import { createInput, uid } from '../factories';
import { APP_DB, sleep, useFaultStore } from '../faults/support';

const store = useFaultStore();

const TERMINAL = ['completed', 'failed', 'cancelled', 'expired', 'incomplete'] as const;
/** Long enough never to end a wait that should be woken (a woken wait returns long before). */
const LONG_WAIT_MS = 20_000;

/** The sessions that LISTEN (the listening connection's last statement is its LISTEN), with when each started (database clock). */
async function listeners(): Promise<{ pid: number; backend_start: Date }[]> {
  return store().cluster.query(`select pid, backend_start from pg_stat_activity where datname = $1 and query ilike 'listen %' and pid <> pg_backend_pid() order by backend_start`, [APP_DB]);
}

/** Polls `condition` every 10 ms until it holds; fails after `boundMs`. */
async function until(what: string, condition: () => Promise<boolean> | boolean, boundMs = 15_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await sleep(10);
  }
}

const listening = (n: number) => until(`${n} listening connection(s)`, async () => (await listeners()).length === n);

/** An ORM of the app whose claim statements are counted (to tell a woken claim from the first check). */
async function countingOrm(): Promise<{ orm: MikroORM; claims: () => number }> {
  let claims = 0;
  const orm = await store().createOrm({
    debug: ['query'],
    loggerFactory: (options) =>
      new (class extends DefaultLogger {
        override logQuery(context: LogContext): void {
          if (/^with picked as materialized/.test(context.query ?? '')) claims += 1;
        }
      })(options),
  });
  return { orm, claims: () => claims };
}

const repo = (orm: MikroORM): RunRepository => orm.em.fork().getRepository(RunObject);

/** A promise's outcome, without rejecting, and how long it took (a woken wait ends long before its `LONG_WAIT_MS`). */
const settle = <T>(p: Promise<T>) => {
  const started = Date.now();
  return p.then(
    (value) => ({ value, error: undefined as unknown, ms: Date.now() - started }),
    (error: unknown) => ({ value: undefined as T | undefined, error, ms: Date.now() - started }),
  );
};
/** Ended by a wake-up, not by its timeout (whose last check would give the same result). */
const WOKEN_WITHIN_MS = LONG_WAIT_MS / 2;

describe('the trigger', () => {
  let client: Client;
  const received: Notification[] = [];
  beforeAll(async () => {
    client = new Client({ connectionString: store().url });
    client.on('error', () => undefined);
    await client.connect();
    client.on('notification', (n) => received.push(n));
    await client.query(`listen "${QUEUED_CHANNEL}"; listen "${STATUS_CHANNEL}"`);
  });
  afterAll(async () => {
    await client.end();
  });

  /** The notifications `action` caused: everything up to a marker sent after it (notifications arrive in commit order). */
  async function notificationsOf(action: () => Promise<unknown>): Promise<{ channel: string; payload: unknown }[]> {
    const mark = async () => {
      const marker = uid('marker');
      await store().sql(`select pg_notify($1, $2)`, [STATUS_CHANNEL, marker]);
      await until('the marker', () => received.some((n) => n.payload === marker));
      return received.findIndex((n) => n.payload === marker);
    };
    const from = await mark(); // everything sent before the action has arrived by now
    await action();
    const upTo = await mark();
    return received.slice(from + 1, upTo).map((n) => ({ channel: n.channel, payload: JSON.parse(n.payload!) }));
  }

  it('a new queued run notifies the queued channel with its schema, id, assistant and model; status changes notify the status channel', async () => {
    const runs = store().runs();
    let id = '';
    const input = createInput();
    expect(await notificationsOf(async () => (id = (await runs.create(input)).id))).toEqual([
      { channel: QUEUED_CHANNEL, payload: { schema: 'public', id, assistant_id: input.assistant_id, model: input.model } },
    ]);
    expect(await notificationsOf(() => runs.start(id))).toEqual([{ channel: STATUS_CHANNEL, payload: { schema: 'public', id, status: 'in_progress' } }]);
    // a change that is not a status change sends nothing
    expect(await notificationsOf(() => runs.updateMetadata(id, { a: 'b' }))).toEqual([]);
    expect(await notificationsOf(() => runs.complete(id))).toEqual([{ channel: STATUS_CHANNEL, payload: { schema: 'public', id, status: 'completed' } }]);
  });

  it('every path notifies: the ORM, an import (insert and replace), a hand-written UPDATE; a refused change and a rolled-back one send nothing', async () => {
    const runs = store().runs();
    const created = await runs.create(createInput());
    const id = created.id;
    // a hand-written UPDATE
    expect(await notificationsOf(() => store().sql(`update run_object set status = 'cancelled' where id = $1`, [id]))).toEqual([
      { channel: STATUS_CHANNEL, payload: { schema: 'public', id, status: 'cancelled' } },
    ]);
    // refused by the status guard: nothing
    expect(await notificationsOf(() => runs.start(id).catch(() => undefined))).toEqual([]);
    // an import replacing the run in place (another status) and one inserting a new terminal run
    const api = (await runs.api.getById(id))!;
    expect(await notificationsOf(() => runs.importRun({ ...api, status: 'queued', cancelled_at: null }))).toEqual([
      { channel: QUEUED_CHANNEL, payload: { schema: 'public', id, assistant_id: api.assistant_id, model: api.model } },
    ]);
    // replaced with the same status: no status change, nothing
    expect(await notificationsOf(() => runs.importRun({ ...api, status: 'queued', cancelled_at: null, metadata: { again: 'yes' } }))).toEqual([]);
    const other = { ...api, id: uid('run'), thread_id: uid('thread'), status: 'completed' as const, completed_at: api.created_at };
    expect(await notificationsOf(() => runs.importRun(other))).toEqual([{ channel: STATUS_CHANNEL, payload: { schema: 'public', id: other.id, status: 'completed' } }]);
    // rolled back: nothing; committed: once
    const em = store().orm.em.fork();
    expect(
      await notificationsOf(() =>
        em.transactional(async (tx) => {
          await tx.getRepository(RunObject).cancel(id);
          throw new Error('roll back');
        }).catch(() => undefined),
      ),
    ).toEqual([]);
    expect(await notificationsOf(() => em.fork().transactional((tx) => tx.getRepository(RunObject).cancel(id)))).toEqual([
      { channel: STATUS_CHANNEL, payload: { schema: 'public', id, status: 'cancelled' } },
    ]);
  });

  it('an id too long for a payload is left out (the write never fails for it)', async () => {
    const id = `run_${'x'.repeat(9000)}`;
    const notes = await notificationsOf(() =>
      store().sql(`insert into run_object (id, created_at, thread_id, assistant_id, status, model) values ($1, now(), $2, 'asst_long', 'queued', 'gpt-4o')`, [id, uid('thread')]),
    );
    expect(notes).toEqual([{ channel: QUEUED_CHANNEL, payload: { schema: 'public', id: null, assistant_id: null, model: null } }]);
    expect(await store().sql(`select count(*)::int as n from run_object where id = $1`, [id])).toEqual([{ n: 1 }]);
    await store().sql(`delete from run_object where id = $1`, [id]);
  });

  it('the migration names the channels the code listens on', () => {
    const text = readFileSync(path.join(__dirname, '..', '..', 'migrations', 'Migration20261201122000.ts'), 'utf8');
    expect(text).toContain(`pg_notify('${QUEUED_CHANNEL}'`);
    expect(text).toContain(`pg_notify('${STATUS_CHANNEL}'`);
  });
});

describe('waiting for a run to claim', () => {
  it('an idle waiting worker claims a newly created run when it is notified (not at its timeout); a free run is claimed without listening', async () => {
    const { orm, claims } = await countingOrm();
    const assistant = uid('asst');
    const started = Date.now();
    const waiting = repo(orm).claimNext({ assistant_id: assistant, worker: 'w1', leaseSeconds: 30, waitMs: LONG_WAIT_MS });
    await listening(1);
    await until('the claim once listening came back empty', () => claims() === 2);
    const created = await store().runs().create(createInput({ assistant_id: assistant }));
    const run = await waiting;
    expect(run).toMatchObject({ id: created.id, status: 'in_progress', leaseOwner: 'w1', attempt: 1 });
    expect(claims()).toBe(3); // before listening, once listening, then the woken claim
    expect(Date.now() - started).toBeLessThan(WOKEN_WITHIN_MS);
    await listening(0); // the last wait ended: the connection is closed
    // a run already free: one claim, no connection
    const free = await store().runs().create(createInput({ assistant_id: assistant }));
    expect((await repo(orm).claimNext({ assistant_id: assistant, waitMs: LONG_WAIT_MS }))!.id).toBe(free.id);
    expect(claims()).toBe(4);
    expect((await listeners()).length).toBe(0);
  });

  it('many waits of one ORM share ONE listening connection; each new run is claimed exactly once; a run of another assistant wakes nobody who filters', async () => {
    const { orm, claims } = await countingOrm();
    const assistant = uid('asst');
    const other = uid('asst');
    const started = Date.now();
    const workers = Array.from({ length: 4 }, (_, i) => repo(orm).claimNext({ assistant_id: assistant, worker: `w${i}`, leaseSeconds: 30, waitMs: LONG_WAIT_MS }));
    const watched = await store().runs().create(createInput());
    const statusWaits = [repo(orm).waitForStatus(watched.id, [...TERMINAL]), repo(orm).api.waitForStatus(watched.id, 'cancelled')];
    await listening(1);
    await until('every check once listening', () => claims() === 8);
    // another assistant's run: the payload names it, the filtering waits do not even check
    const foreign = await store().runs().create(createInput({ assistant_id: other }));
    await store().sql(`select pg_notify($1, 'settle')`, [STATUS_CHANNEL]);
    await sleep(50);
    expect(claims()).toBe(8);
    const created = [];
    for (let i = 0; i < 4; i++) created.push((await store().runs().create(createInput({ assistant_id: assistant }))).id);
    const got = await Promise.all(workers);
    expect(Date.now() - started).toBeLessThan(WOKEN_WITHIN_MS);
    expect(got.map((r) => r!.id).sort()).toEqual([...created].sort());
    expect((await listeners()).length).toBe(1);
    await store().runs().cancel(watched.id);
    const [managed, api] = await Promise.all(statusWaits);
    expect(Date.now() - started).toBeLessThan(WOKEN_WITHIN_MS);
    expect(managed.status).toBe('cancelled');
    expect(JSON.stringify(api)).toBe(JSON.stringify(managed));
    await listening(0);
    expect((await store().runs().getById(foreign.id)).status).toBe('queued');
  });

  it('a notification without ids (a run id too long for a payload) wakes a filtering worker too', async () => {
    const assistant = uid('asst');
    const waiting = settle(store().runs().claimNext({ assistant_id: assistant, waitMs: LONG_WAIT_MS }));
    await listening(1);
    await sleep(50); // past its check once listening
    const id = `run_${'y'.repeat(9000)}`;
    await store().sql(`insert into run_object (id, created_at, thread_id, assistant_id, status, model) values ($1, now(), $2, $3, 'queued', 'gpt-4o')`, [id, uid('thread'), assistant]);
    const claimed = await waiting;
    expect(claimed.value?.id).toBe(id);
    expect(claimed.ms).toBeLessThan(WOKEN_WITHIN_MS);
    await store().sql(`delete from run_object where id = $1`, [id]);
  });

  it('a run created inside a transaction is claimed only once that transaction commits', async () => {
    const assistant = uid('asst');
    const waiting = settle(store().runs().claimNext({ assistant_id: assistant, waitMs: LONG_WAIT_MS }));
    await listening(1);
    let claimedBeforeCommit = true;
    let id = '';
    await store().orm.em.fork().transactional(async (tx) => {
      id = (await tx.getRepository(RunObject).create(createInput({ assistant_id: assistant }))).id;
      await sleep(200);
      claimedBeforeCommit = (await store().sql(`select status from run_object where id = $1`, [id])).length > 0;
    });
    expect(claimedBeforeCommit).toBe(false); // not even visible outside it
    const claimed = await waiting;
    expect(claimed.value).toMatchObject({ id, status: 'in_progress' });
    expect(claimed.ms).toBeLessThan(WOKEN_WITHIN_MS);
  });

  it('a timeout gives null (after one last claim); the connection closes with the last wait', async () => {
    const started = Date.now();
    expect(await store().runs().claimNext({ assistant_id: uid('asst'), waitMs: 300 })).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await listening(0);
    // waitMs 0: no wait at all, no connection
    expect(await store().runs().claimNext({ assistant_id: uid('asst'), waitMs: 0 })).toBeNull();
  });

  it('an abort ends the wait with WaitAbortedError (cause: the signal reason) and closes the connection; an aborted signal never connects', async () => {
    const controller = new AbortController();
    const waiting = settle(store().runs().claimNext({ assistant_id: uid('asst'), waitMs: LONG_WAIT_MS, signal: controller.signal }));
    await listening(1);
    controller.abort('shutting down');
    const { error } = await waiting;
    expect(error).toBeInstanceOf(WaitAbortedError);
    expect(error).toMatchObject({ reason: 'aborted', cause: 'shutting down', message: 'The wait was aborted.' });
    await listening(0);
    const again = await settle(store().runs().claimNext({ assistant_id: uid('asst'), waitMs: LONG_WAIT_MS, signal: controller.signal }));
    expect(again.error).toBeInstanceOf(WaitAbortedError);
    expect((await listeners()).length).toBe(0);
  });

  it('closeListener ends every pending wait of the ORM (WaitAbortedError, closed); a later wait opens it again', async () => {
    const runs = store().runs();
    const watched = await runs.create(createInput());
    const waits = [settle(runs.claimNext({ assistant_id: uid('asst'), waitMs: LONG_WAIT_MS })), settle(store().runs().waitForStatus(watched.id, 'completed'))];
    await listening(1);
    await store().runs().closeListener();
    for (const { error } of await Promise.all(waits)) expect(error).toMatchObject({ name: 'WaitAbortedError', reason: 'closed' });
    await listening(0);
    const assistant = uid('asst');
    const again = runs.claimNext({ assistant_id: assistant, waitMs: LONG_WAIT_MS });
    await listening(1);
    const created = await runs.create(createInput({ assistant_id: assistant }));
    expect((await again)!.id).toBe(created.id);
    await listening(0);
  });

  it.each([
    [{ waitMs: -1 }, 'options.waitMs'],
    [{ waitMs: 1.5 }, 'options.waitMs'],
    [{ waitMs: 2 ** 31 }, 'options.waitMs'],
    [{ waitMs: '10' }, 'options.waitMs'],
    [{ waitMs: 10, signal: {} }, 'options.signal'],
    [{ signal: new AbortController().signal }, 'options.signal'],
    [{ waitMs: 10, wiat: 1 }, 'options.wiat'],
  ])('refuses %p (RunValidationError on %s) before connecting', async (options, field) => {
    const error = await store().runs().claimNext({ assistant_id: uid('asst'), ...(options as object) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunValidationError);
    expect((error as RunValidationError).field).toBe(field);
    expect((await listeners()).length).toBe(0);
  });

  it('refuses to wait inside a transaction', async () => {
    const error = await store().orm.em.fork().transactional((tx) => tx.getRepository(RunObject).claimNext({ waitMs: 100 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'RunValidationError', field: 'options.waitMs', reason: 'cannot wait inside a transaction' });
  });

  it("the listening connection has the ORM's connection settings, the password knex hides included", async () => {
    const orm = await store().createOrm({ password: 'pw-listen-123', driverOptions: { connection: { application_name: 'ars-listen-settings' } } });
    const client = (await openDedicated(orm.em.fork())) as unknown as { connectionParameters: Record<string, unknown>; end(): Promise<void> };
    try {
      expect(client.connectionParameters).toMatchObject({ password: 'pw-listen-123', application_name: 'ars-listen-settings', database: APP_DB, port: store().cluster.port });
    } finally {
      await client.end();
    }
  });

  it('after orm.close(), a wait fails with RunStoreUnavailableError (connect_failed, not retryable)', async () => {
    const orm = await store().createOrm();
    const runs = repo(orm);
    await orm.close(true);
    const error = await runs.claimNext({ assistant_id: uid('asst'), waitMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunStoreUnavailableError);
    expect(error).toMatchObject({ reason: 'connect_failed', retryable: false });
  });
});

describe('waiting for a status', () => {
  it('returns at once when the run already is in one of the statuses, and sees a terminal status when the worker finishes', async () => {
    const runs = store().runs();
    const run = await runs.create(createInput());
    expect((await runs.waitForStatus(run.id, ['queued', 'in_progress'])).status).toBe('queued');
    expect((await listeners()).length).toBe(0);
    const started = Date.now();
    const server = repo(store().orm).api.waitForStatus(run.id, [...TERMINAL], { timeoutMs: LONG_WAIT_MS });
    await listening(1);
    await runs.start(run.id);
    await runs.requireAction(run.id, [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }]);
    await runs.submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'x' }]);
    await runs.start(run.id);
    await runs.complete(run.id, { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
    const seen = await server;
    expect(seen).toMatchObject({ id: run.id, status: 'completed', usage: { total_tokens: 3 } });
    expect(Date.now() - started).toBeLessThan(WOKEN_WITHIN_MS);
    expect(JSON.stringify(seen)).toBe(JSON.stringify(await runs.api.getById(run.id)));
  });

  it('a timeout gives the run as it is then; an abort is WaitAbortedError; a missing run is RunNotFoundError', async () => {
    const runs = store().runs();
    const run = await runs.create(createInput());
    const started = Date.now();
    expect((await runs.waitForStatus(run.id, 'completed', { timeoutMs: 300 })).status).toBe('queued');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const controller = new AbortController();
    const waiting = settle(runs.waitForStatus(run.id, 'completed', { signal: controller.signal }));
    await listening(1);
    controller.abort();
    expect((await waiting).error).toMatchObject({ name: 'WaitAbortedError', reason: 'aborted' });
    await expect(runs.waitForStatus(uid('run'), 'completed')).rejects.toBeInstanceOf(RunNotFoundError);
    await listening(0);
  });

  it.each([
    [['done'], 'statuses'],
    [[], 'statuses'],
    [7, 'statuses'],
  ])('refuses statuses %p with RunValidationError', async (statuses, field) => {
    const error = await store().runs().waitForStatus('run_x', statuses as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunValidationError);
    expect((error as RunValidationError).field).toBe(field);
  });

  it('refuses bad options', async () => {
    await expect(store().runs().waitForStatus('run_x', 'completed', { timeoutMs: -5 })).rejects.toMatchObject({ field: 'options.timeoutMs' });
    await expect(store().runs().waitForStatus('run_x', 'completed', { signal: 'no' as never })).rejects.toMatchObject({ field: 'options.signal' });
    await expect(store().runs().waitForStatus('run_x', 'completed', { timeout: 5 } as never)).rejects.toMatchObject({ field: 'options.timeout' });
    await expect(store().runs().waitForStatus('', 'completed')).rejects.toMatchObject({ field: 'id' });
  });
});

describe('missed notifications lose nothing', () => {
  /**
   * A worker waiting for `assistant`'s next run and a server waiting for `watched` to finish, on
   * their own ORM, plus a wait that nothing ends but its signal (it keeps the connection open, so
   * the test can see when the listener's backend started); all listening.
   */
  async function waiters(orm: MikroORM, assistant: string, watchedId: string) {
    const keeper = new AbortController();
    const kept = await store().runs().create(createInput());
    const keeping = settle(repo(orm).waitForStatus(kept.id, 'completed', { signal: keeper.signal }));
    const worker = settle(workerLoop(orm, assistant));
    const server = settle(repo(orm).api.waitForStatus(watchedId, [...TERMINAL], { timeoutMs: LONG_WAIT_MS }));
    await listening(1);
    const stop = async () => {
      keeper.abort();
      expect((await keeping).error).toBeInstanceOf(WaitAbortedError);
      await listening(0);
    };
    return { worker, server, stop };
  }

  /**
   * A worker's loop, as README "The worker loop" has it: a waiting claim, made again after a
   * retryable availability error (a restart can break the pooled connection a woken claim uses);
   * a claim whose outcome is unknown is resolved by looking for the run it may have taken (leased
   * to this worker). Returns the run's id and how many claims failed.
   */
  async function workerLoop(orm: MikroORM, assistant: string): Promise<{ id: string | null; failures: number }> {
    let failures = 0;
    for (;;) {
      try {
        const run = await repo(orm).claimNext({ assistant_id: assistant, worker: 'w', leaseSeconds: 30, waitMs: LONG_WAIT_MS });
        return { id: run?.id ?? null, failures };
      } catch (error) {
        if (!(error instanceof RunStoreUnavailableError) || !error.retryable || failures >= 5) throw error;
        failures += 1;
        if (error.outcomeUnknown) {
          const held = await store().sql<{ id: string }>(`select id from run_object where assistant_id = $1 and status = 'in_progress' and lease_owner = 'w'`, [assistant]);
          if (held.length > 0) return { id: held[0].id, failures };
        }
      }
    }
  }

  /** `step` until it succeeds, through the availability errors of a restart. */
  async function eventually<T>(what: string, step: () => Promise<T>): Promise<T> {
    let result: T | undefined;
    await until(what, async () => {
      try {
        result = await step();
        return true;
      } catch (error) {
        if (!(error instanceof RunStoreUnavailableError)) throw error;
        return false;
      }
    });
    return result!;
  }

  /** The run's `completed_at`, and when the backend that listens now started (database clock). */
  async function listenedSince(runId: string): Promise<{ completedAt: Date; listenerStart: Date }> {
    const [{ completed_at }] = await store().sql<{ completed_at: Date }>(`select completed_at from run_object where id = $1`, [runId]);
    await listening(1);
    const [l] = await listeners();
    return { completedAt: completed_at, listenerStart: l.backend_start };
  }

  it('the listening backend killed (pg_terminate_backend), 3 times: the changes committed while nobody listened are found after the reconnect', async () => {
    const { orm } = await countingOrm();
    for (let round = 0; round < 3; round++) {
      const assistant = uid('asst');
      const watched = await store().runs().create(createInput());
      await store().runs().start(watched.id);
      const { worker, server, stop } = await waiters(orm, assistant, watched.id);
      const [killed] = await listeners();
      await store().cluster.terminateBackends({ pids: [killed.pid] });
      await until('the killed backend is gone', async () => !(await listeners()).some((l) => l.pid === killed.pid));
      // while no backend listens: a new run for the worker, the watched run finished
      const created = await store().runs().create(createInput({ assistant_id: assistant }));
      await store().runs().complete(watched.id);
      const claimed = await worker;
      const seen = await server;
      expect(claimed.error).toBeUndefined();
      expect(claimed.value).toEqual({ id: created.id, failures: 0 }); // only the listener's backend was killed
      expect(await store().sql(`select status, lease_owner from run_object where id = $1`, [created.id])).toEqual([{ status: 'in_progress', lease_owner: 'w' }]);
      expect(seen.error).toBeUndefined();
      expect(seen.value).toMatchObject({ id: watched.id, status: 'completed' });
      expect([claimed.ms, seen.ms].every((ms) => ms < WOKEN_WITHIN_MS)).toBe(true);
      // the listener's new backend started after both writes: their notifications reached nobody
      const { completedAt, listenerStart } = await listenedSince(watched.id);
      expect(listenerStart.getTime()).toBeGreaterThan(completedAt.getTime());
      await stop();
    }
  });

  it.each(['fast', 'immediate'] as const)('the server restarted (-m %s) while both wait: after it is back, the worker gets its run and the server its status', async (mode) => {
    const { orm } = await countingOrm();
    const assistant = uid('asst');
    const watched = await store().runs().create(createInput());
    await store().runs().start(watched.id);
    const { worker, server, stop } = await waiters(orm, assistant, watched.id);
    await store().cluster.restart({ mode, downtimeMs: 300 });
    // the first writes after the restart, before the listener is back (it retries with backoff)
    const created = await eventually('a create after the restart', () => store().runs().create(createInput({ assistant_id: assistant })));
    await eventually('a complete after the restart', async () => {
      const run = await store().runs().findById(watched.id);
      return run!.status === 'completed' ? run : store().runs().complete(watched.id);
    });
    const claimed = await worker;
    const seen = await server;
    expect(claimed.error).toBeUndefined();
    expect(claimed.value?.id).toBe(created.id);
    expect(await store().sql(`select status, lease_owner from run_object where id = $1`, [created.id])).toEqual([{ status: 'in_progress', lease_owner: 'w' }]);
    expect(seen.error).toBeUndefined();
    expect(seen.value).toMatchObject({ id: watched.id, status: 'completed' });
    expect([claimed.ms, seen.ms].every((ms) => ms < WOKEN_WITHIN_MS)).toBe(true);
    // (whether the listener was back before those writes is the race's to decide: the kill test above pins the missed case)
    await stop();
  });
});

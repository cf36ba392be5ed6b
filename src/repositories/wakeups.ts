/**
 * Wake-ups: waiting for a run to claim (`claimNext` with `waitMs`) and for a run to reach a status
 * (`waitForStatus`) without a query loop, on PostgreSQL's LISTEN/NOTIFY.
 *
 * The database sends the notifications (migration 20261201122000: a trigger on `run_object`, in the
 * transaction of the change, so only committed changes notify). Each ORM has ONE listening
 * connection (`Listener`), shared by all of its waits: opened when the first wait starts, closed
 * when the last one ends (or by `closeListener`), a dedicated connection to the primary
 * (executor.ts `openDedicated`: LISTEN holds a session, a pooled connection cannot).
 *
 * No wake-up is lost. A wait checks its condition (the claim itself, or the run's status) once
 * without listening — what is already there needs no connection —, then registers with the
 * listener and checks again once the connection LISTENs on its channels: a change committed before
 * that check is seen by the check, one committed after it notifies. A notification that
 * arrives while a check runs makes the wait check again. When the connection is lost (a killed
 * backend, a restart) the listener reconnects with backoff (100 ms doubling to 5 s, jittered, as
 * graphile-worker's listener does), and every wait checks again once it LISTENs: what was
 * committed meanwhile, unnotified, is found by that check. A wait's timeout is also its polling
 * fallback: at the timeout a waiting claim tries once more, a status wait reads the run.
 *
 * A notification only says "check": its payload (run id, status, and for a queued run its
 * assistant and model) narrows which waits check; an id-less payload (ids too long for a payload)
 * makes every wait on the channel check. With MikroORM's `schema` option set, notifications of
 * tables in other schemas are ignored; without it, every schema's notifications reach the waits
 * (they only check more often).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RunStatus } from '../api/types';
import { QUEUED_CHANNEL, STATUS_CHANNEL } from '../entities/schema-names';
import { checkId, checkOptions, optionalSignal, optionalWaitMs, validationError } from '../api/arguments';
import { checkStatuses } from '../api/list-query';
import { RunNotFoundError, RunStoreError, RunStoreUnavailableError, RunValidationError, WaitAbortedError } from '../errors';
import { listenStatement, runStatusStatement } from '../sql/wakeups';
import { translateDbError } from './db-errors';
import { onDedicated, openDedicated, read, type DedicatedClient } from './executor';
import { findById, type ReadForm } from './reads';

/** A notification's payload as the trigger writes it (any field may be missing or `null`: unknown). */
interface Payload {
  schema?: unknown;
  id?: unknown;
  status?: unknown;
  assistant_id?: unknown;
  model?: unknown;
}

/** One pending wait, as the listener sees it. */
interface Waiter {
  readonly channels: readonly string[];
  /** Whether a notification on `channel` may concern this wait (`payload` null: unreadable, so yes). */
  wants(channel: string, payload: Payload | null): boolean;
  /** The connection LISTENs on all of `channels` (kept by the listener). */
  live: boolean;
  /** Something may have changed (a notification, or the connection became live): check again. */
  wake(): void;
  /** The listener cannot serve this wait: it ends with `error`. */
  fail(error: RunStoreError): void;
}

/** Delays before reconnecting, in ms, by attempt (each jittered down by up to a quarter). */
const RECONNECT_MS = [100, 200, 400, 800, 1600, 3200, 5000];

const noop = () => undefined;

/**
 * The listening connection of one ORM, shared by all of its waits. Never throws and never leaves
 * an error unhandled: a failure of the connection becomes a reconnect (or, when connecting cannot
 * succeed — bad credentials, a missing database, a closed ORM —, the end of every wait with the
 * translated error).
 */
class Listener {
  private client: DedicatedClient | null = null;
  private connecting = false;
  /** Channels the current connection LISTENs on, and those whose LISTEN is on its way. */
  private readonly listening = new Set<string>();
  private readonly pending = new Set<string>();
  private readonly waiters = new Set<Waiter>();
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Renewed by every connect and every shutdown: a connect that finishes after a newer one (or a shutdown) is dropped. */
  private generation = 0;

  constructor(
    private readonly em: EntityManager,
    /** The ORM's `schema` option: notifications of other schemas are ignored (undefined: none is). */
    private readonly schema: string | undefined,
  ) {}

  add(waiter: Waiter): void {
    this.waiters.add(waiter);
    if (this.client) this.listenMissing(this.client);
    else if (!this.connecting && !this.timer) void this.connect();
  }

  remove(waiter: Waiter): void {
    this.waiters.delete(waiter);
    if (this.waiters.size === 0) this.shutdown();
  }

  /** Ends every wait (`WaitAbortedError`, `closed`) and closes the connection. */
  async close(): Promise<void> {
    const client = this.client;
    for (const waiter of [...this.waiters]) waiter.fail(new WaitAbortedError('closed'));
    this.waiters.clear();
    this.shutdown();
    if (client) await client.end().catch(noop);
  }

  private shutdown(): void {
    this.generation += 1;
    this.attempt = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.drop();
    if (client) void client.end().catch(noop);
  }

  /** Forgets the current connection (its listeners stay, and ignore it from now on). */
  private drop(): void {
    this.client = null;
    this.listening.clear();
    this.pending.clear();
    for (const waiter of this.waiters) waiter.live = false;
  }

  private async connect(): Promise<void> {
    this.connecting = true;
    const generation = ++this.generation;
    let client: DedicatedClient;
    try {
      client = await openDedicated(this.em);
    } catch (error) {
      this.connecting = false;
      if (generation === this.generation) this.failed(error);
      return;
    }
    this.connecting = false;
    if (generation !== this.generation || this.waiters.size === 0) {
      void client.end().catch(noop);
      return;
    }
    this.client = client;
    client.on('notification', (message) => {
      if (client === this.client) this.notified(message.channel, message.payload);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    this.listenMissing(client);
  }

  /** LISTENs on the channels some wait needs and the connection does not listen on yet. */
  private listenMissing(client: DedicatedClient): void {
    const missing = new Set<string>();
    for (const waiter of this.waiters) for (const c of waiter.channels) if (!this.listening.has(c) && !this.pending.has(c)) missing.add(c);
    if (missing.size === 0) {
      this.refreshLive();
      return;
    }
    const channels = [...missing];
    for (const c of channels) this.pending.add(c);
    onDedicated(this.em, client, listenStatement(channels)).then(
      () => {
        if (client !== this.client) return;
        for (const c of channels) {
          this.pending.delete(c);
          this.listening.add(c);
        }
        this.attempt = 0;
        this.refreshLive();
      },
      (error: unknown) => this.lost(client, error),
    );
  }

  /** Marks the waits whose channels are all listened on as live; each that just became live checks. */
  private refreshLive(): void {
    for (const waiter of [...this.waiters]) {
      const live = this.client !== null && waiter.channels.every((c) => this.listening.has(c));
      if (live && !waiter.live) {
        waiter.live = true;
        waiter.wake();
      } else if (!live) {
        waiter.live = false;
      }
    }
  }

  private notified(channel: string, text: string | undefined): void {
    let payload: Payload | null = null;
    try {
      const parsed: unknown = JSON.parse(text ?? '');
      if (typeof parsed === 'object' && parsed !== null) payload = parsed as Payload;
    } catch {
      payload = null;
    }
    if (payload !== null && this.schema !== undefined && typeof payload.schema === 'string' && payload.schema !== this.schema) return;
    for (const waiter of [...this.waiters]) if (waiter.channels.includes(channel) && waiter.wants(channel, payload)) waiter.wake();
  }

  /** The connection broke (or a LISTEN on it failed): forget it, and reconnect while waits remain. */
  private lost(client: DedicatedClient, error: unknown): void {
    if (client !== this.client) return;
    this.drop();
    void client.end().catch(noop);
    if (this.waiters.size > 0) this.failed(error ?? new Error('Connection terminated'));
  }

  /** Connecting (or the connection) failed: retry later when that can help, else end every wait. */
  private failed(error: unknown): void {
    const translated = translateDbError(error, { write: false, inCallerTransaction: false });
    const retryable = translated instanceof RunStoreUnavailableError ? translated.retryable : !(translated instanceof RunStoreError);
    if (!retryable) {
      const reason = translated instanceof RunStoreError ? translated : new RunStoreUnavailableError('connect_failed', false, false, null);
      for (const waiter of [...this.waiters]) waiter.fail(reason);
      return;
    }
    const base = RECONNECT_MS[Math.min(this.attempt, RECONNECT_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.waiters.size > 0 && !this.client && !this.connecting) void this.connect();
    }, Math.ceil(base * (0.75 + Math.random() / 4)));
  }
}

/** One listener per ORM (keyed by its driver, which every fork shares). */
const listeners = new WeakMap<object, Listener>();

function listenerOf(em: EntityManager): Listener {
  const driver = em.getDriver();
  let listener = listeners.get(driver);
  if (!listener) {
    const schema = em.config.get('schema');
    listener = new Listener(em.fork({ clear: true, useContext: false }), typeof schema === 'string' && schema !== '' ? schema : undefined);
    listeners.set(driver, listener);
  }
  return listener;
}

/** Closes the ORM's listening connection: every pending wait ends with `WaitAbortedError` (`closed`). A later wait opens it again. */
export async function closeListener(em: EntityManager): Promise<void> {
  await listeners.get(em.getDriver())?.close();
}

/**
 * A wait inside the caller's transaction is refused (`RunValidationError` on `field`): it would hold
 * the transaction's locks while waiting, and under REPEATABLE READ its checks would never see the
 * changes it waits for.
 */
export function refuseWaitInTransaction(em: EntityManager, field: string): void {
  if (em.getTransactionContext()) throw RunValidationError.of(field, 'cannot wait inside a transaction');
}

/** What a wait was given: its limit and its signal (both checked). */
export function checkWait(options: unknown, field = 'options'): Wait {
  const o = checkOptions(options, field, ['timeoutMs', 'signal']);
  return { timeoutMs: optionalWaitMs(o.timeoutMs, `${field}.timeoutMs`), signal: optionalSignal(o.signal, `${field}.signal`) };
}

export interface Wait {
  /** ms; `null`: no limit. */
  timeoutMs: number | null;
  signal: AbortSignal | null;
}

/**
 * Waits, on `em`'s listener, until `check` gives a result (`undefined`: not yet), checking first
 * without listening, then once the connection listens, after every notification `wants` accepts
 * and after every reconnect;
 * at the timeout, the result of `atTimeout`. An abort (or `closeListener`) ends it with
 * `WaitAbortedError` — but a result a check already gave is returned, never dropped.
 */
async function waitFor<T>(
  em: EntityManager,
  channels: readonly string[],
  wants: Waiter['wants'],
  check: () => Promise<T | undefined>,
  atTimeout: () => Promise<T>,
  wait: Wait,
): Promise<T> {
  const { signal, timeoutMs } = wait;
  if (signal?.aborted) throw new WaitAbortedError('aborted', { cause: signal.reason });
  if (timeoutMs === 0) return atTimeout();
  // Checked once before listening: what is already there needs no connection (a busy queue, a finished run).
  const now = await check();
  if (now !== undefined) return now;
  let dirty = false;
  let failure: RunStoreError | null = null;
  let timedOut = false;
  let aborted = false;
  let poke: (() => void) | null = null;
  const nudge = () => {
    const resolve = poke;
    poke = null;
    resolve?.();
  };
  const waiter: Waiter = {
    channels,
    wants,
    live: false,
    wake: () => {
      dirty = true;
      nudge();
    },
    fail: (error) => {
      failure = error;
      nudge();
    },
  };
  const onAbort = () => {
    aborted = true;
    nudge();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = timeoutMs === null ? null : setTimeout(() => {
    timedOut = true;
    nudge();
  }, timeoutMs);
  const listener = listenerOf(em);
  listener.add(waiter);
  try {
    for (;;) {
      if (aborted || signal?.aborted) throw new WaitAbortedError('aborted', { cause: signal?.reason });
      if (failure) throw failure;
      if (timedOut) return await atTimeout();
      if (dirty && waiter.live) {
        dirty = false;
        const result = await check();
        if (result !== undefined) return result;
        continue;
      }
      await new Promise<void>((resolve) => {
        poke = resolve;
      });
    }
  } finally {
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    listener.remove(waiter);
  }
}

/** `value` names `wanted`, or cannot tell (not a string: an id-less payload). */
const mayBe = (value: unknown, wanted: string | undefined): boolean => wanted === undefined || typeof value !== 'string' || value === wanted;

/**
 * `claim` (one `claimNext` statement) until it takes a run, re-tried whenever a run may have become
 * claimable (a `queued` notification of a matching assistant and model, a reconnect), at most
 * `wait.timeoutMs`; at the timeout, one last claim (its run, or `null`).
 */
export function claimWhenQueued<T>(
  em: EntityManager,
  filters: { assistantId?: string; model?: string },
  wait: Wait,
  claim: () => Promise<T | null>,
): Promise<T | null> {
  return waitFor<T | null>(
    em,
    [QUEUED_CHANNEL],
    (_channel, p) => p === null || (mayBe(p.assistant_id, filters.assistantId) && mayBe(p.model, filters.model)),
    async () => (await claim()) ?? undefined,
    claim,
    wait,
  );
}

const statusOf = (run: { id: string }): RunStatus => (run as unknown as { status: RunStatus }).status;

/**
 * The run once its status is one of `statuses` (at once when it already is), read on the primary
 * in `form`; after `wait.timeoutMs`, the run as it is then. `RunNotFoundError` when there is no
 * such run (or it was deleted meanwhile). A status the run passes through between two checks can
 * be missed (as by polling); statuses it stays in — the terminal ones — cannot.
 */
export async function waitForStatus<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, id: unknown, statuses: unknown, options?: unknown): Promise<T> {
  const runId = checkId(id, 'id');
  const wanted = checkStatuses(statuses, 'statuses', validationError);
  const wait = checkWait(options);
  refuseWaitInTransaction(em, 'options');
  return untilStatus(em, form, runId, wanted, wait);
}

function untilStatus<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, id: string, statuses: readonly RunStatus[], wait: Wait): Promise<T> {
  const channels = [
    ...(statuses.includes('queued') ? [QUEUED_CHANNEL] : []),
    ...(statuses.some((s) => s !== 'queued') ? [STATUS_CHANNEL] : []),
  ];
  const fresh = async (): Promise<T> => {
    const run = await findById(em, form, id, 'primary');
    if (run === null) throw new RunNotFoundError(id);
    return run;
  };
  return waitFor<T>(
    em,
    channels,
    (channel, p) => p === null || ((typeof p.id !== 'string' || p.id === id) && (channel === QUEUED_CHANNEL || typeof p.status !== 'string' || statuses.includes(p.status as RunStatus))),
    async () => {
      const [row] = await read(em, runStatusStatement(id), 'primary');
      if (!row) throw new RunNotFoundError(id);
      if (!statuses.includes(row.status as RunStatus)) return undefined;
      const run = await fresh();
      return statuses.includes(statusOf(run)) ? run : undefined;
    },
    fresh,
    wait,
  );
}

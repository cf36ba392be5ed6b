/**
 * The door: `RunRepository`, the only way in to stored runs. Each method is one line into the
 * module that does the work, handing it this repository's entity manager (the caller's unit of
 * work and transaction):
 *
 *   writes.ts       create, importRun, importRuns (sql/insert-graph.ts)
 *   transitions.ts  the lifecycle moves, claimNext, expireOverdue, updateMetadata (sql/transition.ts …)
 *   retention.ts    purgeRuns (sql/purge.ts)
 *   reads.ts        findById, getForThread, findActiveForThread, history, the lists, the export and the aggregates (sql/page.ts, sql/aggregates.ts, sql/history.ts)
 *   wakeups.ts      waitForStatus, closeListener, and claimNext's wait (the listening connection; sql/wakeups.ts)
 *
 * and those run their statements through executor.ts and turn rows into managed graphs with
 * unit-of-work.ts. None of them imports this file back.
 *
 * The reads come in two forms, one contract: `runs.findById(id)` … give managed `RunObject`s;
 * `runs.api.findById(id)` … (the `ApiRunReads` view) give the API objects themselves (`ApiRun`),
 * built by PostgreSQL — same statements but for their select list, same validation, same errors,
 * same paging.
 */
import type { CreateOptions, EntityData, RequiredEntityData } from '@mikro-orm/core';
import { EntityRepository, type EntityManager } from '@mikro-orm/postgresql';
import type {
  ApiIncompleteDetails,
  ApiLastError,
  ApiRun,
  ApiRunInput,
  ApiRunList,
  ApiToolCall,
  ApiUsage,
  ClaimedRun,
  ClaimOptions,
  CreateRunInput,
  HeartbeatOptions,
  Lease,
  LeaseToken,
  Metadata,
  RecoveredCounts,
  RecoverOptions,
  RunCountFilter,
  RunHistoryEntry,
  RunExportFilter,
  RunListQuery,
  RunStatus,
  RunStatusCounts,
  ToolOutput,
  UsageTotals,
  UsageTotalsFilter,
  WaitOptions,
} from '../api/types';
import type { RunObject } from '../entities/run-object.entity';
import type { RunStoreError } from '../errors';
import { translateDbError } from './db-errors';
import type { ReadFrom } from './executor';
import * as reads from './reads';
import * as retention from './retention';
import type { PurgeOptions } from './retention';
import * as transitions from './transitions';
import * as wakeups from './wakeups';
import * as writes from './writes';
import type { PreparedRunImport } from './writes';

/**
 * The only door to stored runs: every read, write and transition. Get it with
 * `em.fork().getRepository(RunObject)`. Methods return managed, fully loaded `RunObject`s
 * (their `toJSON()` is the API object) and fail only with the package's error classes.
 */
export class RunRepository extends EntityRepository<RunObject> {
  /** Where this repository's showing reads go (`withPrimaryReads()` makes one that reads from the primary). */
  private readFrom: ReadFrom = 'replica';

  /**
   * This repository with every read on the primary: for a caller that must see its own writes
   * (read-your-writes) when the ORM has read replicas. Without replicas it changes nothing.
   */
  withPrimaryReads(): RunRepository {
    const primary = new RunRepository(this.em, this.entityName);
    primary.readFrom = 'primary';
    return primary;
  }

  /**
   * The same reads in the API form: `ApiRun` objects and `ApiRunList<ApiRun>` pages, built by
   * PostgreSQL in one statement per run or page, no entities (nothing enters the unit of work).
   * For a service that only serialises what it reads (`res.json(await runs.api.listByThread(…))`).
   * Its reads go where this repository's go (`withPrimaryReads().api` reads from the primary).
   */
  get api(): ApiRunReads {
    return new ApiRunReads(this.em, this.readFrom);
  }

  // --- creating and storing -----------------------------------------------------------------

  /**
   * A new `queued` run on `input.thread_id`, stored at once, expiring after the configured TTL
   * (`runStoreConfig(…, { runTtlSeconds })`, default 600 s); `ThreadHasActiveRunError` while the
   * thread has an active run. The same as `create(input)`, under a name no ORM method has.
   */
  createRun(input: CreateRunInput): Promise<RunObject> {
    return writes.create(this.em, input);
  }

  /**
   * Both `create`s: with the API's input (`thread_id`, `assistant_id`, `model`, …) it is the store's
   * `createRun` (stored at once, a promise of the run); with entity data (`threadId`, …, or with
   * options) it is MikroORM's synchronous builder, unchanged, so the repository stays substitutable
   * for `EntityRepository<RunObject>`.
   */
  override create<Convert extends boolean = false>(data: RequiredEntityData<RunObject, never, Convert>, options?: CreateOptions<Convert>): RunObject;
  override create<Convert extends boolean = false>(data: EntityData<RunObject, Convert>, options: CreateOptions<Convert> & { partial: true }): RunObject;
  override create(input: CreateRunInput): Promise<RunObject>;
  override create(data: unknown, options?: unknown): RunObject | Promise<RunObject> {
    if (options !== undefined || isEntityData(data)) return super.create(data as RequiredEntityData<RunObject>, options as CreateOptions<false>);
    return this.createRun(data as CreateRunInput);
  }

  /**
   * Stores a run object as the API gave it (either version): inserts it, or replaces the stored
   * run with the same id in place, by one statement (the run never stops existing: a transition
   * waiting for it finds the replaced run). Lossless: `toApiRun` gives back every key it had.
   */
  importRun(apiRun: ApiRunInput): Promise<RunObject> {
    return writes.importRun(this.em, apiRun);
  }

  /**
   * Stores many run objects as `importRun` does, for bulk loads (the `import` command): each is
   * validated first, then the whole batch is inserted, or replaces the stored runs with those ids
   * in place, by ONE statement, in one transaction (a savepoint of the caller's, when it has one).
   * When the database refuses that statement (a thread lock), or an id occurs twice in the batch,
   * the batch is written run by run instead, in order (a later run with the same id wins), each in
   * a savepoint of that transaction, so that every good run is written and every bad one is
   * reported; an availability error leaves nothing of the batch written. Returns, per input,
   * `null` when written or the error that refused it (`RunValidationError`,
   * `ThreadHasActiveRunError`). The runs are not loaded into the unit of work.
   *
   * Takes the runs, or a batch already validated and turned into its statement by
   * `prepareRunImport` (a caller that reads a stream prepares the next batch while this one is
   * written).
   */
  importRuns(batch: readonly ApiRunInput[] | PreparedRunImport): Promise<(RunStoreError | null)[]> {
    return writes.importRuns(this.em, batch);
  }

  // --- reading ------------------------------------------------------------------------------

  /** The run, fully loaded and fresh from the database, or `null`. */
  findById(id: string): Promise<RunObject | null> {
    return reads.findById(this.em, reads.MANAGED, id, this.readFrom);
  }

  /** The run, fully loaded, or `RunNotFoundError`. */
  getById(id: string): Promise<RunObject> {
    return reads.getById(this.em, reads.MANAGED, id, this.readFrom);
  }

  /**
   * The run's status changes, in the order they committed (from, to, when on the database clock,
   * who, the attempt, and a submit's tool outputs); `RunNotFoundError` when there is no such run.
   */
  history(id: string): Promise<RunHistoryEntry[]> {
    return reads.history(this.em, id, this.readFrom);
  }

  /**
   * The run, fully loaded, if it is on `threadId`; else `RunNotFoundError`, as for a missing run (what
   * an endpoint under `/threads/{thread_id}/runs/{run_id}` needs, so that runs do not leak across threads).
   */
  getForThread(threadId: string, runId: string): Promise<RunObject> {
    return reads.getForThread(this.em, reads.MANAGED, threadId, runId, this.readFrom);
  }

  /** The thread's active run (queued, in_progress, requires_action or cancelling), or `null`. */
  findActiveForThread(threadId: string): Promise<RunObject | null> {
    return reads.findActiveForThread(this.em, reads.MANAGED, threadId);
  }

  // --- moving runs (the transitions of run-transitions.md; each is atomic and compare-and-set) --

  /** `queued` → `in_progress`. */
  start(id: string): Promise<RunObject> {
    return transitions.start(this.em, id);
  }

  // A worker's transitions take its `lease` ({ worker, attempt } of its claim): refused with
  // `LeaseLostError` once another claim took the run over. Without it, no lease is checked.

  /** `in_progress` → `requires_action`, with the tool calls the client must answer. */
  requireAction(id: string, toolCalls: ApiToolCall[], lease?: LeaseToken): Promise<RunObject> {
    return transitions.requireAction(this.em, id, toolCalls, lease);
  }

  /** `requires_action` → `queued`; exactly one output per pending tool call. */
  submitToolOutputs(id: string, toolOutputs: ToolOutput[]): Promise<RunObject> {
    return transitions.submitToolOutputs(this.em, id, toolOutputs);
  }

  /** → `completed` (from `in_progress` or `cancelling`). */
  complete(id: string, usage?: ApiUsage, lease?: LeaseToken): Promise<RunObject> {
    return transitions.complete(this.em, id, usage, lease);
  }

  /** → `failed` with `last_error`. */
  fail(id: string, lastError: ApiLastError, usage?: ApiUsage, lease?: LeaseToken): Promise<RunObject> {
    return transitions.fail(this.em, id, lastError, usage, lease);
  }

  /** → `incomplete` with `incomplete_details`. */
  markIncomplete(id: string, incompleteDetails: ApiIncompleteDetails, usage?: ApiUsage, lease?: LeaseToken): Promise<RunObject> {
    return transitions.markIncomplete(this.em, id, incompleteDetails, usage, lease);
  }

  /** → `cancelled` (queued, requires_action) or `cancelling` (in_progress); a `cancelling` run comes back unchanged. */
  cancel(id: string): Promise<RunObject> {
    return transitions.cancel(this.em, id);
  }

  /** `cancelling` → `cancelled`. */
  confirmCancelled(id: string, lease?: LeaseToken): Promise<RunObject> {
    return transitions.confirmCancelled(this.em, id, lease);
  }

  /**
   * Every active run with `expires_at <= now` → `expired`, in batches of 500 (`skip locked`: a run
   * another transaction holds is left for the next call); `now` defaults to the database's clock.
   * Returns the count.
   */
  expireOverdue(now?: Date): Promise<number> {
    return transitions.expireOverdue(this.em, now);
  }

  /**
   * Takes the oldest free `queued` run and moves it to `in_progress`; `null` when none is free.
   * With `{ worker, leaseSeconds }` the run is leased to the worker (`run.leaseOwner`,
   * `run.leaseExpiresAt`, `run.attempt`: the token its worker transitions and heartbeats carry).
   * `run.toolOutputs` holds the tool outputs the run's work is waiting on (see `ClaimedRun`).
   * With `waitMs`, waits up to that long for a run when none is free, woken by the store's
   * notifications (one listening connection per ORM); `signal` ends the wait (`WaitAbortedError`).
   */
  claimNext(options?: ClaimOptions | null): Promise<ClaimedRun | null> {
    return transitions.claimNext(this.em, options);
  }

  /**
   * The run once its status is one of `statuses` (at once if it already is), read on the primary;
   * after `options.timeoutMs` (omitted: no limit) the run as it is then. Woken by the store's
   * notifications, no query loop (README "The worker loop"); `options.signal` ends the wait with
   * `WaitAbortedError`. `RunNotFoundError` when there is no such run.
   */
  waitForStatus(id: string, statuses: RunStatus | RunStatus[], options?: WaitOptions): Promise<RunObject> {
    return wakeups.waitForStatus(this.em, reads.MANAGED, id, statuses, options);
  }

  /**
   * Closes this ORM's listening connection (the one all of its waits share): every pending wait
   * ends with `WaitAbortedError` (`closed`). A later wait opens it again. For a service's shutdown,
   * before `orm.close()`.
   */
  closeListener(): Promise<void> {
    return wakeups.closeListener(this.em);
  }

  /** Extends the lease for its current holder only (else `LeaseLostError`); returns the new expiry and the run's status. */
  heartbeat(id: string, options: HeartbeatOptions): Promise<Lease> {
    return transitions.heartbeat(this.em, id, options);
  }

  /**
   * Runs whose worker's lease lapsed: `in_progress` → `queued` (or → `failed` after `maxAttempts`
   * claims), `cancelling` → `cancelled`. Batched, one statement per batch, safe from several processes.
   */
  recoverLapsed(options: RecoverOptions): Promise<RecoveredCounts> {
    return transitions.recoverLapsed(this.em, options);
  }

  /** Replaces `metadata` (any status). */
  updateMetadata(id: string, metadata: Metadata | null): Promise<RunObject> {
    return transitions.updateMetadata(this.em, id, metadata);
  }

  // --- retention ---------------------------------------------------------------------------------

  /**
   * Deletes terminal runs created before a cutoff (`olderThanSeconds` ago on the database's clock,
   * or `before`), optionally only some statuses, with all their parts, in batches of `batchSize`
   * (default 1,000) that lock only rows nobody else holds; returns how many it deleted (with
   * `dryRun`: how many it would). Safe from several processes at once. Active runs are never purged.
   */
  purgeRuns(options: PurgeOptions): Promise<number> {
    return retention.purgeRuns(this.em, options);
  }

  // --- the ORM's own writes, kept to the lifecycle ----------------------------------------------

  /** MikroORM's `nativeUpdate`; a status change the lifecycle does not list is an `InvalidRunTransitionError` (the database refuses it). */
  override async nativeUpdate(...args: Parameters<EntityRepository<RunObject>['nativeUpdate']>): Promise<number> {
    return ormWrite(this.em, () => super.nativeUpdate(...args));
  }

  /** MikroORM's `upsert`, with the same guard as `nativeUpdate`. */
  override async upsert(...args: Parameters<EntityRepository<RunObject>['upsert']>): Promise<RunObject> {
    return ormWrite(this.em, () => super.upsert(...args));
  }

  /** MikroORM's `upsertMany`, with the same guard as `nativeUpdate`. */
  override async upsertMany(...args: Parameters<EntityRepository<RunObject>['upsertMany']>): Promise<RunObject[]> {
    return ormWrite(this.em, () => super.upsertMany(...args));
  }

  // --- lists and aggregates -------------------------------------------------------------------

  /** A page of the thread's runs, in the API's list shape. */
  listByThread(threadId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
    return reads.listByThread(this.em, reads.MANAGED, threadId, query, this.readFrom);
  }

  /** A page of the assistant's runs, in the API's list shape. */
  listByAssistant(assistantId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
    return reads.listByAssistant(this.em, reads.MANAGED, assistantId, query, this.readFrom);
  }

  /** A page of the runs in a status (or several), in the API's list shape. */
  listByStatus(status: RunStatus | RunStatus[], query?: RunListQuery): Promise<ApiRunList<RunObject>> {
    return reads.listByStatus(this.em, reads.MANAGED, status, query, this.readFrom);
  }

  /** The number of runs in each of the nine statuses (zeros included). */
  countByStatus(filter?: RunCountFilter): Promise<RunStatusCounts> {
    return reads.countByStatus(this.em, filter, this.readFrom);
  }

  /** Token totals over the matching runs. */
  usageTotals(filter?: UsageTotalsFilter): Promise<UsageTotals> {
    return reads.usageTotals(this.em, filter, this.readFrom);
  }
}

/**
 * `RunRepository#api`: the reads of `RunRepository`, each giving the API object itself instead of
 * a managed `RunObject` — `JSON.stringify(await runs.api.getById(id))` is byte for byte
 * `JSON.stringify(await runs.getById(id))`. Same arguments, validation, errors and paging as the
 * managed reads; one statement per run or page; nothing enters the unit of work.
 */
export class ApiRunReads {
  constructor(
    private readonly em: EntityManager,
    private readonly readFrom: ReadFrom,
  ) {}

  /** The run's API object, or `null`. */
  findById(id: string): Promise<ApiRun | null> {
    return reads.findById(this.em, reads.API, id, this.readFrom);
  }

  /** The run's API object, or `RunNotFoundError`. */
  getById(id: string): Promise<ApiRun> {
    return reads.getById(this.em, reads.API, id, this.readFrom);
  }

  /** The run's API object if it is on `threadId`; else `RunNotFoundError`, as for a missing run. */
  getForThread(threadId: string, runId: string): Promise<ApiRun> {
    return reads.getForThread(this.em, reads.API, threadId, runId, this.readFrom);
  }

  /** The thread's active run (queued, in_progress, requires_action or cancelling), or `null`; on the primary. */
  findActiveForThread(threadId: string): Promise<ApiRun | null> {
    return reads.findActiveForThread(this.em, reads.API, threadId);
  }

  /** A page of the thread's runs: the API's list object. */
  listByThread(threadId: string, query?: RunListQuery): Promise<ApiRunList<ApiRun>> {
    return reads.listByThread(this.em, reads.API, threadId, query, this.readFrom);
  }

  /** A page of the assistant's runs: the API's list object. */
  listByAssistant(assistantId: string, query?: RunListQuery): Promise<ApiRunList<ApiRun>> {
    return reads.listByAssistant(this.em, reads.API, assistantId, query, this.readFrom);
  }

  /** A page of the runs in a status (or several): the API's list object. */
  listByStatus(status: RunStatus | RunStatus[], query?: RunListQuery): Promise<ApiRunList<ApiRun>> {
    return reads.listByStatus(this.em, reads.API, status, query, this.readFrom);
  }

  /** `RunRepository#waitForStatus`, giving the run's API object. */
  waitForStatus(id: string, statuses: RunStatus | RunStatus[], options?: WaitOptions): Promise<ApiRun> {
    return wakeups.waitForStatus(this.em, reads.API, id, statuses, options);
  }

  /**
   * Every run the filter matches (`{ thread_id?, assistant_id?, status?, created_after?, created_before? }`),
   * oldest first, in keyset pages of `pageSize` (one statement each): what the `export` command prints.
   */
  export(filter?: RunExportFilter, pageSize?: number): AsyncGenerator<ApiRun> {
    return reads.exportRuns(this.em, filter, pageSize, this.readFrom);
  }
}

/** Entity data for MikroORM's builder (camelCase keys of `RunObject`), rather than the API's input (snake_case). */
function isEntityData(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  return 'threadId' in data || 'assistantId' in data || 'createdAt' in data;
}

/** An ORM write of the base class, its failures translated like the store's own. */
async function ormWrite<T>(em: EntityManager, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw translateDbError(error, { write: true, inCallerTransaction: em.getTransactionContext() !== undefined });
  }
}

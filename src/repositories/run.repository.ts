import { randomBytes } from 'node:crypto';
import { EntityRepository, type EntityManager } from '@mikro-orm/postgresql';
import { parseOrThrow, apiRunSchema, createRunSchema } from '../api/schema';
import { fillRunFromApi } from '../api/mapping';
import type {
  ApiIncompleteDetails,
  ApiLastError,
  ApiRunInput,
  ApiRunList,
  ApiToolCall,
  ApiUsage,
  ClaimOptions,
  CreateRunInput,
  Metadata,
  RunCountFilter,
  RunListQuery,
  RunStatus,
  RunStatusCounts,
  ToolOutput,
  UsageTotals,
  UsageTotalsFilter,
} from '../api/types';
import * as lifecycle from '../lifecycle/operations';
import * as queries from './queries';
import { ACTIVE_STATUSES } from '../api/types';
import { RunObject, THREAD_ACTIVE_RUN_INDEX } from '../entities/run-object.entity';
import { RunNotFoundError, RunStoreError, ThreadHasActiveRunError } from '../errors';
import { isUniqueViolation, pgErrorOf, translateDbError } from '../db-errors';
import { runStoreSettingsOf } from '../settings';
import { appendApiRunRows, emptyRows, insertGraphStatement, insertRowsStatement, type Statement } from './sql/insert-graph';
import { selectRunGraph } from './sql/select-graph';
import { registerManaged } from './sql/managed';

/**
 * Runs one hand-written statement on `em` (in its transaction, if any), its parameters bound:
 * MikroORM's `Connection#execute` would splice them into the SQL as escaped literals, which for a
 * batch's JSON parameters (megabytes) costs more than the whole rest of the write.
 */
async function execute(em: EntityManager, statement: Statement): Promise<void> {
  const query = em.getConnection().getKnex().raw(statement.sql, statement.params as never[]);
  const ctx = em.getTransactionContext();
  await (ctx ? query.transacting(ctx) : query);
}

/** Every relation of a run: what a read loads so that `toApiRun` sees the whole object. */
export const RUN_POPULATE = [
  'requiredAction.toolCalls',
  'lastError',
  'incompleteDetails',
  'usage',
  'truncationStrategy',
  'toolChoice',
  'responseFormat',
  'tools',
  'fileIds',
] as const;

/**
 * Whether the unit of work already holds entities that a read could hit. Only then is a read done
 * with `refresh` (a managed run is otherwise merged, and a merge keeps a non-null value that the
 * database has since cleared, e.g. `expires_at`); on a fresh fork `refresh` would only re-select
 * every joined to-one part in statements of their own.
 */
export function holdsEntities(em: EntityManager): boolean {
  return !em.getUnitOfWork().getIdentityMap()[Symbol.iterator]().next().done;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A fresh run id in the API's form: `run_` and 24 random base62 characters. */
export function newRunId(): string {
  const bytes = randomBytes(24);
  let id = 'run_';
  for (const b of bytes) id += ID_ALPHABET[b % 62];
  return id;
}

/** A batch for `RunRepository#importRuns`, validated and turned into its one INSERT statement. */
export interface PreparedRunImport {
  readonly prepared: true;
  /** Per input: `null`, or the `RunValidationError` that refused it (the write adds its own). */
  readonly results: (RunStoreError | null)[];
  /** The valid inputs, validated, with their index. */
  readonly valid: readonly { readonly index: number; readonly run: ApiRunInput }[];
  /** The distinct ids of the valid inputs (the stored runs the write replaces). */
  readonly ids: readonly string[];
  /** The statement inserting every valid input; `null` when none is. */
  readonly statement: Statement | null;
}

function isPrepared(batch: readonly ApiRunInput[] | PreparedRunImport): batch is PreparedRunImport {
  return (batch as PreparedRunImport).prepared === true;
}

/**
 * The CPU part of `RunRepository#importRuns`, with no database: validates every input
 * (`RunValidationError` per bad one) and builds the batch's statement straight from the validated
 * API objects — no entity graph (`importRuns` never hands the runs out), which was most of the
 * time and garbage of a bulk import.
 */
export function prepareRunImport(apiRuns: readonly ApiRunInput[]): PreparedRunImport {
  const results: (RunStoreError | null)[] = new Array<RunStoreError | null>(apiRuns.length).fill(null);
  const valid: { index: number; run: ApiRunInput }[] = [];
  const rows = emptyRows();
  const ids = new Set<string>();
  for (let index = 0; index < apiRuns.length; index++) {
    let run: ApiRunInput;
    try {
      run = parseOrThrow(apiRunSchema, apiRuns[index]) as ApiRunInput;
    } catch (error) {
      if (!(error instanceof RunStoreError)) throw error;
      results[index] = error;
      continue;
    }
    valid.push({ index, run });
    appendApiRunRows(rows, run);
    ids.add(run.id);
  }
  return { prepared: true, results, valid, ids: [...ids], statement: valid.length === 0 ? null : insertRowsStatement(rows) };
}

/**
 * The only door to stored runs: every read, write and transition. Get it with
 * `em.fork().getRepository(RunObject)`. Methods return managed, fully loaded `RunObject`s
 * (their `toJSON()` is the API object) and fail only with the package's error classes.
 */
export class RunRepository extends EntityRepository<RunObject> {
  // --- creating and storing -----------------------------------------------------------------

  /**
   * A new `queued` run on `input.thread_id`, expiring after the configured TTL
   * (`runStoreConfig(…, { runTtlSeconds })`, default 600 s); `ThreadHasActiveRunError` while the
   * thread has an active run.
   * (It replaces `EntityRepository#create`, which only builds an entity: the public contract names
   * this method `create`. Use `em.create(RunObject, …)` for the ORM's builder.)
   */
  // @ts-expect-error -- deliberately not the base class's synchronous builder signature
  async create(input: CreateRunInput): Promise<RunObject> {
    const data = parseOrThrow(createRunSchema, input);
    const ttl = runStoreSettingsOf(this.em).runTtlSeconds;
    const now = new Date();
    const run = fillRunFromApi(new RunObject(), {
      id: newRunId(),
      object: 'thread.run',
      created_at: 0,
      thread_id: data.thread_id,
      assistant_id: data.assistant_id,
      status: 'queued',
      required_action: null,
      last_error: null,
      expires_at: null,
      started_at: null,
      cancelled_at: null,
      failed_at: null,
      completed_at: null,
      incomplete_details: null,
      model: data.model,
      instructions: data.instructions ?? null,
      tools: data.tools ?? [],
      ...(data.file_ids !== undefined ? { file_ids: data.file_ids } : {}),
      metadata: data.metadata ?? {},
      usage: null,
      temperature: data.temperature ?? null,
      top_p: data.top_p ?? null,
      max_prompt_tokens: data.max_prompt_tokens ?? null,
      max_completion_tokens: data.max_completion_tokens ?? null,
      truncation_strategy: data.truncation_strategy ?? { type: 'auto', last_messages: null },
      tool_choice: data.tool_choice ?? 'auto',
      parallel_tool_calls: data.parallel_tool_calls ?? true,
      response_format: data.response_format ?? 'auto',
    });
    run.createdAt = now;
    run.expiresAt = new Date(now.getTime() + ttl * 1000);
    await this.insertGraph(run, false);
    registerManaged(this.em as EntityManager, run);
    return run;
  }

  /**
   * Stores a run object as the API gave it (either version): inserts it, or replaces the stored
   * run with the same id, in one transaction. Lossless: `toApiRun` gives back every key it had.
   */
  async importRun(apiRun: ApiRunInput): Promise<RunObject> {
    const data = parseOrThrow(apiRunSchema, apiRun) as ApiRunInput;
    const stale = this.em.getUnitOfWork().getById<RunObject>(RunObject.name, data.id);
    const run = fillRunFromApi(new RunObject(), data);
    await this.insertGraph(run, true);
    if (stale && stale !== run) this.em.getUnitOfWork().unsetIdentity(stale);
    registerManaged(this.em as EntityManager, run);
    return run;
  }

  /**
   * Stores many run objects as `importRun` does, for bulk loads (the `import` command): each is
   * validated first, then — in one transaction — the stored runs with those ids are deleted and
   * the whole batch is inserted by ONE statement. When the database refuses that statement (a
   * thread lock, an id twice in the batch), the batch is written again run by run, each in its own
   * savepoint, in order (a later run with the same id wins), so that every good run is written
   * and every bad one is reported. Returns, per input, `null` when written or the error that
   * refused it (`RunValidationError`, `ThreadHasActiveRunError`). The runs are not loaded into
   * the unit of work.
   *
   * Takes the runs, or a batch already validated and turned into its statement by
   * `prepareRunImport` (a caller that reads a stream prepares the next batch while this one is
   * written).
   */
  async importRuns(batch: readonly ApiRunInput[] | PreparedRunImport): Promise<(RunStoreError | null)[]> {
    const { results, valid, ids, statement } = isPrepared(batch) ? batch : prepareRunImport(batch);
    if (statement === null) return results;
    const uow = this.em.getUnitOfWork();
    for (const id of ids) {
      const stale = uow.getById<RunObject>(RunObject.name, id);
      if (stale) uow.unsetIdentity(stale);
    }
    try {
      await this.em.transactional(async (em) => {
        await execute(em, { sql: 'delete from "run_object" where "id" = any(?::text[])', params: [ids] });
        await execute(em, statement);
      });
    } catch (error) {
      if (pgErrorOf(error) === null) throw error;
      for (const { index, run } of valid) {
        try {
          await this.insertGraph(fillRunFromApi(new RunObject(), run), true);
        } catch (single) {
          if (!(single instanceof RunStoreError)) throw single;
          results[index] = single;
        }
      }
    }
    return results;
  }

  /**
   * Writes a new run graph with ONE hand-written statement (sql/insert-graph.ts; the ORM's flush
   * would send one INSERT per table inside BEGIN … COMMIT), then registers the graph as managed in
   * this unit of work, as a flush would. With `replace`, a stored run of that id is deleted first,
   * in the same transaction.
   */
  private async insertGraph(run: RunObject, replace: boolean): Promise<void> {
    const statement = insertGraphStatement([run]);
    try {
      if (replace) {
        await this.em.transactional(async (em) => {
          await em.nativeDelete(RunObject, { id: run.id });
          await execute(em, statement);
        });
      } else {
        await execute(this.em, statement);
      }
    } catch (error) {
      throw await this.translateWriteError(error, run.threadId);
    }
  }

  /**
   * Maps a failed write: the thread lock's unique index becomes `ThreadHasActiveRunError`, other
   * data errors `RunValidationError`. @internal (used by the lifecycle operations too)
   */
  async translateWriteError(error: unknown, threadId: string): Promise<unknown> {
    if (isUniqueViolation(error, THREAD_ACTIVE_RUN_INDEX)) {
      const active = await this.em
        .fork()
        .findOne(RunObject, { threadId, status: { $in: [...ACTIVE_STATUSES] } }, { fields: ['id'] });
      return new ThreadHasActiveRunError(threadId, active?.id ?? null);
    }
    return translateDbError(error);
  }

  // --- reading ------------------------------------------------------------------------------

  /** The run, fully loaded and fresh from the database, or `null`. */
  async findById(id: string): Promise<RunObject | null> {
    return selectRunGraph(this.em as EntityManager, id);
  }

  /** The run, fully loaded, or `RunNotFoundError`. */
  async getById(id: string): Promise<RunObject> {
    const run = await this.findById(id);
    if (!run) throw new RunNotFoundError(id);
    return run;
  }

  /** The thread's active run (queued, in_progress, requires_action or cancelling), or `null`. */
  findActiveForThread(threadId: string): Promise<RunObject | null> {
    return lifecycle.findActiveForThread(this, threadId);
  }

  // --- moving runs (the transitions of run-lifecycle.md; each is atomic and compare-and-set) --

  /** `queued` → `in_progress`. */
  start(id: string): Promise<RunObject> {
    return lifecycle.start(this, id);
  }

  /** `in_progress` → `requires_action`, with the tool calls the client must answer. */
  requireAction(id: string, toolCalls: ApiToolCall[]): Promise<RunObject> {
    return lifecycle.requireAction(this, id, toolCalls);
  }

  /** `requires_action` → `queued`; exactly one output per pending tool call. */
  submitToolOutputs(id: string, toolOutputs: ToolOutput[]): Promise<RunObject> {
    return lifecycle.submitToolOutputs(this, id, toolOutputs);
  }

  /** → `completed` (from `in_progress` or `cancelling`). */
  complete(id: string, usage?: ApiUsage): Promise<RunObject> {
    return lifecycle.complete(this, id, usage);
  }

  /** → `failed` with `last_error`. */
  fail(id: string, lastError: ApiLastError, usage?: ApiUsage): Promise<RunObject> {
    return lifecycle.fail(this, id, lastError, usage);
  }

  /** → `incomplete` with `incomplete_details`. */
  markIncomplete(id: string, incompleteDetails: ApiIncompleteDetails, usage?: ApiUsage): Promise<RunObject> {
    return lifecycle.markIncomplete(this, id, incompleteDetails, usage);
  }

  /** → `cancelled` (queued, requires_action) or `cancelling` (in_progress); a `cancelling` run comes back unchanged. */
  cancel(id: string): Promise<RunObject> {
    return lifecycle.cancel(this, id);
  }

  /** `cancelling` → `cancelled`. */
  confirmCancelled(id: string): Promise<RunObject> {
    return lifecycle.confirmCancelled(this, id);
  }

  /** Every active run with `expires_at <= now` → `expired`; `now` defaults to the database's clock. Returns the count. */
  expireOverdue(now?: Date): Promise<number> {
    return lifecycle.expireOverdue(this, now);
  }

  /** Takes the oldest free `queued` run and moves it to `in_progress`; `null` when none is free. */
  claimNext(options?: ClaimOptions): Promise<RunObject | null> {
    return lifecycle.claimNext(this, options);
  }

  /** Replaces `metadata` (any status). */
  updateMetadata(id: string, metadata: Metadata | null): Promise<RunObject> {
    return lifecycle.updateMetadata(this, id, metadata);
  }

  // --- lists and aggregates -------------------------------------------------------------------

  /** A page of the thread's runs, in the API's list shape. */
  listByThread(threadId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
    return queries.listByThread(this, threadId, query);
  }

  /** A page of the assistant's runs, in the API's list shape. */
  listByAssistant(assistantId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
    return queries.listByAssistant(this, assistantId, query);
  }

  /** A page of the runs in a status (or several), in the API's list shape. */
  listByStatus(status: RunStatus | RunStatus[], query?: RunListQuery): Promise<ApiRunList<RunObject>> {
    return queries.listByStatus(this, status, query);
  }

  /** The number of runs in each of the nine statuses (zeros included). */
  countByStatus(filter?: RunCountFilter): Promise<RunStatusCounts> {
    return queries.countByStatus(this, filter);
  }

  /** Token totals over the matching runs. */
  usageTotals(filter?: UsageTotalsFilter): Promise<UsageTotals> {
    return queries.usageTotals(this, filter);
  }
}

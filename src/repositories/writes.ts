/**
 * The writes that insert runs, as `RunRepository` exposes them (`create`, `importRun`,
 * `importRuns`; each method there is a one-line call into this module, handing it the
 * repository's entity manager): a whole run graph, or a batch of them, written by ONE statement
 * (sql/insert-graph.ts) on the caller's connection, then registered as managed in the caller's
 * unit of work, as a flush would — without flushing anything of the caller's.
 */
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { apiRunSchema, createRunSchema, parseOrThrow } from '../api/schema';
import { fillRunFromApi } from '../api/to-entities';
import type { ApiRunInput, CreateRunInput } from '../api/types';
import { RunObject } from '../entities/run-object.entity';
import { RunStoreError, RunStoreUnavailableError, RunValidationError, ThreadHasActiveRunError } from '../errors';
import { activeRunIdStatement } from '../sql/active-run';
import { runStoreSettingsOf } from '../settings';
import { appendApiRunRows, emptyRows, insertGraphStatement, insertRowsStatement, type InsertRows } from '../sql/insert-graph';
import type { Statement } from '../sql/statement';
import { atomically, read, transaction, write, type Row } from './executor';
import { findById, MANAGED } from './reads';
import { registerManaged } from './unit-of-work';

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
  /**
   * The valid inputs, validated, with their index and their place among the runs of their
   * `created_at` second (`createdAtOffsetMs`: milliseconds added to `created_at`, see
   * `prepareRunImport`).
   */
  readonly valid: readonly { readonly index: number; readonly run: ApiRunInput; readonly createdAtOffsetMs: number }[];
  /** The distinct ids of the valid inputs (the stored runs the write replaces). */
  readonly ids: readonly string[];
  /**
   * The statement writing every valid input (in id order, so that writers of overlapping batches
   * lock the stored runs in one order); `null` when none is valid, or when an id occurs twice (those
   * inputs are then written one by one, in order, as `importRun` would).
   */
  readonly statement: Statement | null;
  /**
   * Per `created_at` second of this batch: how many runs of that second this batch and the
   * batches it follows have placed (the next one gets that many milliseconds, at most 999).
   */
  readonly placed: ReadonlyMap<number, number>;
}

/**
 * The most milliseconds `prepareRunImport` adds to a `created_at`: it stays in its second, so the
 * API object still shows the same unix time.
 */
export const MAX_CREATED_AT_OFFSET_MS = 999;

/** The batches `prepareRunImport` made: only those are taken as prepared (a look-alike object could carry any SQL). */
const PREPARED = new WeakSet<object>();

function isPrepared(batch: readonly ApiRunInput[] | PreparedRunImport): batch is PreparedRunImport {
  return PREPARED.has(batch as object);
}

/**
 * The CPU part of `RunRepository#importRuns`, with no database: validates every input
 * (`RunValidationError` per bad one) and builds the batch's statement straight from the validated
 * API objects — no entity graph (`importRuns` never hands the runs out), which was most of the
 * time and garbage of a bulk import.
 *
 * Order within a second: the API's `created_at` is whole seconds, the store keeps milliseconds
 * and lists runs of one second by them. So that an export (oldest first) imports back in the
 * order it lists, the n-th run of a second in the input (from 0) is stored n milliseconds past
 * that second (at most 999: beyond 1,000 runs of one second, the rest tie and list by id).
 * `follows`, the batch before this one, carries the count on across batches.
 */
export function prepareRunImport(apiRuns: readonly ApiRunInput[], follows?: PreparedRunImport | null): PreparedRunImport {
  if (!Array.isArray(apiRuns)) throw RunValidationError.of('runs', 'must be an array of run objects, or a batch from prepareRunImport');
  if (follows !== undefined && follows !== null && !isPrepared(follows)) throw RunValidationError.of('follows', 'must be a batch from prepareRunImport');
  const before = follows?.placed;
  const placed = new Map<number, number>();
  const results: (RunStoreError | null)[] = new Array<RunStoreError | null>(apiRuns.length).fill(null);
  const valid: { index: number; run: ApiRunInput; createdAtOffsetMs: number }[] = [];
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
    const second = run.created_at;
    const n = placed.get(second) ?? before?.get(second) ?? 0;
    placed.set(second, n + 1);
    valid.push({ index, run, createdAtOffsetMs: Math.min(n, MAX_CREATED_AT_OFFSET_MS) });
    ids.add(run.id);
  }
  let statement: Statement | null = null;
  if (valid.length > 0 && ids.size === valid.length) {
    const rows = emptyRows();
    for (const { run, createdAtOffsetMs } of [...valid].sort((a, b) => (a.run.id < b.run.id ? -1 : a.run.id > b.run.id ? 1 : 0))) {
      appendApiRunRows(rows, run, createdAtOffsetMs);
    }
    statement = Object.freeze(insertRowsStatement(rows, { replace: true }));
  }
  const prepared = Object.freeze({ prepared: true as const, results, valid: Object.freeze(valid), ids: Object.freeze([...ids]), statement, placed });
  PREPARED.add(prepared);
  return prepared;
}

/**
 * A new `queued` run (see `RunRepository#create`).
 */
export async function create(em: EntityManager, input: CreateRunInput): Promise<RunObject> {
  const data = parseOrThrow(createRunSchema, input);
  const ttl = runStoreSettingsOf(em).runTtlSeconds;
  const api: ApiRunInput = {
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
  };
  // The statement is built from the API object (no entities) and sent first; the run's entity graph,
  // the CPU-heavy part, is built while the database executes it, with the part ids of its rows.
  // The database's clock stamps it, as it stamps every transition (see `GraphWrite`).
  const rows = emptyRows();
  appendApiRunRows(rows, api);
  const sent = writeGraph(em, insertRowsStatement(rows, { stampTtlSeconds: ttl }), api.thread_id);
  sent.catch(() => undefined); // awaited below; a refusal must not count as unhandled meanwhile
  await statementOnItsWay();
  const run = withPartIdsOf(rows, fillRunFromApi(new RunObject(), api));
  const [stored] = await sent;
  const platform = em.getPlatform();
  run.createdAt = asDate(platform, stored.createdAt);
  run.expiresAt = asDate(platform, stored.expiresAt);
  registerManaged(em, run);
  return run;
}

/**
 * Resolves once the pending I/O callbacks and microtasks have run: by then a statement handed to
 * the driver on an idle pooled connection has been written to its socket, so the work after this
 * overlaps with the database's.
 */
const statementOnItsWay = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `run` (just built from the API object `rows` were built from, by `appendApiRunRows`) with the
 * part ids of those rows — the ids the database stores. Every table's first column is its id.
 */
function withPartIdsOf(rows: InsertRows, run: RunObject): RunObject {
  const idOf = (table: unknown[][], i = 0) => table[i][0] as string;
  if (run.requiredAction) {
    run.requiredAction.id = idOf(rows.requiredAction);
    run.requiredAction.toolCalls.getItems(false).forEach((call, i) => (call.id = idOf(rows.toolCall, i)));
  }
  if (run.lastError) run.lastError.id = idOf(rows.lastError);
  if (run.incompleteDetails) run.incompleteDetails.id = idOf(rows.incompleteDetails);
  if (run.usage) run.usage.id = idOf(rows.usage);
  if (run.truncationStrategy) run.truncationStrategy.id = idOf(rows.truncationStrategy);
  if (run.toolChoice) run.toolChoice.id = idOf(rows.toolChoice);
  if (run.responseFormat) run.responseFormat.id = idOf(rows.responseFormat);
  run.tools.getItems(false).forEach((tool, i) => (tool.id = idOf(rows.tool, i)));
  run.fileIds.getItems(false).forEach((file, i) => (file.id = idOf(rows.fileId, i)));
  return run;
}

const asDate = (platform: ReturnType<EntityManager['getPlatform']>, value: unknown): Date =>
  value instanceof Date ? value : platform.parseDate(value as string);

/** Stores a run object as the API gave it (see `RunRepository#importRun`). */
export async function importRun(em: EntityManager, apiRun: ApiRunInput): Promise<RunObject> {
  const data = parseOrThrow(apiRunSchema, apiRun) as ApiRunInput;
  const held = em.getUnitOfWork().getById<RunObject>(RunObject.name, data.id);
  const run = fillRunFromApi(new RunObject(), data);
  await replaceGraph(em, run);
  const refreshed = held ? await refreshHeld(em, held) : null;
  if (refreshed) return refreshed;
  registerManaged(em, run);
  return run;
}

/**
 * After a replace of a run that `em`'s unit of work holds: that instance, refreshed as a read
 * refreshes a held run (one statement; unit-of-work.ts' merge rules: the stored values, the
 * caller's unsaved edits kept), so the unit of work keeps one instance per identity. `null`, and
 * the instance let go, when the run is gone meanwhile (deleted by another writer).
 */
async function refreshHeld(em: EntityManager, held: RunObject): Promise<RunObject | null> {
  const fresh = await findById(em, MANAGED, held.id);
  if (fresh === null) em.getUnitOfWork().unsetIdentity(held);
  return fresh;
}

/** Stores many run objects (see `RunRepository#importRuns`). */
export async function importRuns(em: EntityManager, batch: readonly ApiRunInput[] | PreparedRunImport): Promise<(RunStoreError | null)[]> {
  const { results, valid, ids, statement } = isPrepared(batch) ? batch : prepareRunImport(batch);
  if (valid.length === 0) return results;
  const uow = em.getUnitOfWork();
  const held = ids.map((id) => uow.getById<RunObject>(RunObject.name, id)).filter((run): run is RunObject => run !== undefined);
  // ONE transaction, so that a failure that is not the input's fault leaves nothing of the batch
  // written: the batch's statement; then, run by run in order (a later run with the same id wins),
  // the runs it did not write — all of them when there is no statement (an id twice) or the
  // database refused it (a thread lock, a value), else those a concurrent writer changed meanwhile
  // (see `replaceGraph`). Each in a savepoint, so a refused one leaves the others.
  await transaction(em, async (tx) => {
    let pending = valid;
    if (statement !== null) {
      try {
        const written = new Set((await atomically(tx, () => write(tx, statement))).map((row) => row.id as string));
        pending = valid.filter(({ run }) => !written.has(run.id));
      } catch (error) {
        if (!isInputError(error)) throw error;
      }
    }
    for (const { index, run, createdAtOffsetMs } of pending) {
      try {
        const entity = fillRunFromApi(new RunObject(), run);
        entity.createdAt = new Date(entity.createdAt.getTime() + createdAtOffsetMs);
        await replaceGraph(tx, entity);
      } catch (single) {
        if (!isInputError(single)) throw single;
        results[index] = single;
      }
    }
  });
  // the held runs the batch replaced are refreshed in place (see `refreshHeld`); a refused one was not written
  const written = new Set(valid.filter(({ index }) => results[index] === null).map(({ run }) => run.id));
  for (const run of held) if (written.has(run.id)) await refreshHeld(em, run);
  return results;
}

/** How often a replace is sent again when concurrent writers kept changing the run under it. */
const REPLACE_ATTEMPTS = 3;

/**
 * Inserts `run`'s graph, or replaces the stored run of that id in place (sql/insert-graph.ts). The
 * statement writes nothing when another writer committed a change to the run after the
 * statement's snapshot was taken; it is then sent again (it now sees that change), and after
 * `REPLACE_ATTEMPTS` such rounds the write gives up as a retryable conflict.
 */
async function replaceGraph(em: EntityManager, run: RunObject): Promise<void> {
  const statement = insertGraphStatement([run], { replace: true });
  for (let attempt = 1; ; attempt++) {
    if ((await writeGraph(em, statement, run.threadId)).length > 0) return;
    if (attempt === REPLACE_ATTEMPTS) throw new RunStoreUnavailableError('conflict', true, false);
  }
}

/**
 * Sends a graph statement as one step of the caller's transaction (`atomically`) and returns the
 * written runs' rows. A thread-lock refusal of a run of `threadId` is completed with the id of the
 * thread's active run, looked up on the same connection once the savepoint is rolled back (in
 * the caller's transaction, when there is one, which sees a run it has not committed yet).
 */
async function writeGraph(em: EntityManager, statement: Statement, threadId: string): Promise<Row[]> {
  try {
    return await atomically(em, () => write(em, statement, threadId));
  } catch (error) {
    throw await withActiveRun(em, error);
  }
}

/** Whether `error` refuses the input (a run of the batch), rather than saying the store failed. */
function isInputError(error: unknown): error is RunValidationError | ThreadHasActiveRunError {
  return error instanceof RunValidationError || error instanceof ThreadHasActiveRunError;
}

/**
 * A thread-lock refusal, completed with the id of the thread's active run, looked up on the same
 * connection (in the same transaction, when there is one); other errors as they are. If the
 * lookup itself fails, the refusal is still the answer, without the id.
 */
async function withActiveRun(em: EntityManager, error: unknown): Promise<unknown> {
  if (!(error instanceof ThreadHasActiveRunError) || error.activeRunId !== null) return error;
  try {
    const [row] = await read<{ id: string }>(em, activeRunIdStatement(error.threadId));
    return new ThreadHasActiveRunError(error.threadId, row?.id ?? null);
  } catch {
    return error;
  }
}

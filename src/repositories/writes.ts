/**
 * The writes that insert runs, as `RunRepository` exposes them (`create`, `importRun`,
 * `importRuns`; each method there is a one-line call into this module, handing it the
 * repository's entity manager): a whole run graph, or a batch of them, inserted by ONE statement
 * (sql/insert-graph.ts), then registered as managed in the caller's unit of work, as a flush would.
 */
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { apiRunSchema, createRunSchema, parseOrThrow } from '../api/schema';
import { fillRunFromApi } from '../api/to-entities';
import type { ApiRunInput, CreateRunInput } from '../api/types';
import { RunObject } from '../entities/run-object.entity';
import { RunStoreError, RunValidationError, ThreadHasActiveRunError } from '../errors';
import { activeRunIdStatement } from '../sql/active-run';
import { runStoreSettingsOf } from '../settings';
import { appendApiRunRows, deleteRunsStatement, emptyRows, insertGraphStatement, insertRowsStatement } from '../sql/insert-graph';
import type { Statement } from '../sql/statement';
import { read, transaction, write } from './executor';
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
  /** The valid inputs, validated, with their index. */
  readonly valid: readonly { readonly index: number; readonly run: ApiRunInput }[];
  /** The distinct ids of the valid inputs (the stored runs the write replaces). */
  readonly ids: readonly string[];
  /** The statement inserting every valid input; `null` when none is. */
  readonly statement: Statement | null;
}

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
 */
export function prepareRunImport(apiRuns: readonly ApiRunInput[]): PreparedRunImport {
  if (!Array.isArray(apiRuns)) throw RunValidationError.of('runs', 'must be an array of run objects, or a batch from prepareRunImport');
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
  const statement = valid.length === 0 ? null : Object.freeze(insertRowsStatement(rows));
  const prepared = Object.freeze({ prepared: true as const, results, valid: Object.freeze(valid), ids: Object.freeze([...ids]), statement });
  PREPARED.add(prepared);
  return prepared;
}

/**
 * A new `queued` run (see `RunRepository#create`).
 */
export async function create(em: EntityManager, input: CreateRunInput): Promise<RunObject> {
  const data = parseOrThrow(createRunSchema, input);
  const ttl = runStoreSettingsOf(em).runTtlSeconds;
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
  await insertGraph(em, run, false);
  registerManaged(em, run);
  return run;
}

/** Stores a run object as the API gave it (see `RunRepository#importRun`). */
export async function importRun(em: EntityManager, apiRun: ApiRunInput): Promise<RunObject> {
  const data = parseOrThrow(apiRunSchema, apiRun) as ApiRunInput;
  const stale = em.getUnitOfWork().getById<RunObject>(RunObject.name, data.id);
  const run = fillRunFromApi(new RunObject(), data);
  await insertGraph(em, run, true);
  if (stale && stale !== run) em.getUnitOfWork().unsetIdentity(stale);
  registerManaged(em, run);
  return run;
}

/** Stores many run objects (see `RunRepository#importRuns`). */
export async function importRuns(em: EntityManager, batch: readonly ApiRunInput[] | PreparedRunImport): Promise<(RunStoreError | null)[]> {
  const { results, valid, ids, statement } = isPrepared(batch) ? batch : prepareRunImport(batch);
  if (statement === null) return results;
  const uow = em.getUnitOfWork();
  for (const id of ids) {
    const stale = uow.getById<RunObject>(RunObject.name, id);
    if (stale) uow.unsetIdentity(stale);
  }
  try {
    await transaction(em, async (tx) => {
      await write(tx, deleteRunsStatement(ids));
      await write(tx, statement);
    });
  } catch (error) {
    // An availability error: nothing of the batch was written (its transaction rolled back).
    if (!isInputError(error)) throw error;
    // The database refused the batch (a thread lock, a value): written again run by run, in order
    // (a later run with the same id wins), each in a savepoint of ONE transaction, so that a
    // failure that is not the input's fault still leaves nothing of the batch written.
    await transaction(em, async (tx) => {
      for (const { index, run } of valid) {
        try {
          await insertGraph(tx, fillRunFromApi(new RunObject(), run), true);
        } catch (single) {
          if (!isInputError(single)) throw single;
          results[index] = single;
        }
      }
    });
  }
  return results;
}

/**
 * Writes a new run graph with ONE hand-written statement (sql/insert-graph.ts; the ORM's flush
 * would send one INSERT per table inside BEGIN … COMMIT). With `replace`, a stored run of that id
 * is deleted first, in the same transaction.
 */
async function insertGraph(em: EntityManager, run: RunObject, replace: boolean): Promise<void> {
  const statement = insertGraphStatement([run]);
  try {
    if (replace) {
      await transaction(
        em,
        async (tx) => {
          await write(tx, deleteRunsStatement([run.id]));
          await write(tx, statement, run.threadId);
        },
        run.threadId,
      );
    } else {
      await write(em, statement, run.threadId);
    }
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

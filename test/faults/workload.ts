/**
 * The fault suite's workload: workers that drive runs through every kind of write the store has,
 * as a service would while the database misbehaves. A worker owns its runs (fresh thread and
 * assistant per script), so it knows what each run must look like: after a call returns, its
 * effect; after a failure, the run must be as before (the error said nothing was written) or
 * either way (`outcomeUnknown`). After a failure the worker reads the run through the store until
 * the store answers (as a caller resolving an unknown outcome would), then the run is judged by SQL
 * on the admin connection, never by the store's word. Failed steps are retried, bounded in time.
 */
import { isDeepStrictEqual } from 'node:util';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ApiRunInput } from '../../src/api/types';
import { TRANSITION_NAMES, type TransitionName } from '../../src/lifecycle/transitions';
import type { UnavailableReason } from '../../src/errors';
import type { RunObject } from '../../src/entities/run-object.entity';
import type { RunRepository } from '../../src/repositories/run.repository';
import { apiRunV1, apiRunV2, apiRunWithEveryPart, asStored, uid } from '../factories';
import {
  checkAvailabilityError,
  mayHaveWritten,
  orphanCounts,
  shapeOfApi,
  sleep,
  storedShapes,
  timed,
  type FaultStore,
  type Outcome,
  type Shape,
  type ViolationLog,
} from './support';

/**
 * The lifecycle's transitions that are repository methods of their own (`expire`, `claim` and
 * `recover` are `expireOverdue`, `claimNext` and `recoverLapsed`, listed below).
 */
type TransitionMethod = Exclude<TransitionName, 'expire' | 'claim' | 'recover'>;
const TRANSITION_METHODS = TRANSITION_NAMES.filter((n): n is TransitionMethod => n !== 'expire' && n !== 'claim' && n !== 'recover');

/** Every kind of write the store has (the fault suite must hit each): a new transition in the table joins the list. */
export const WRITE_KINDS = ['create', 'importRun', 'importRuns', ...TRANSITION_METHODS, 'claimNext', 'expireOverdue', 'recoverLapsed', 'updateMetadata'] as const;
export type WriteKind = (typeof WRITE_KINDS)[number];
/** Calls the workload makes: the writes, and the reads by which a worker resolves a failed one. */
export type CallKind = WriteKind | 'findById' | 'findActiveForThread';
const CALL_KINDS: readonly CallKind[] = [...WRITE_KINDS, 'findById', 'findActiveForThread'];

/** Lines per `importRuns` batch. */
const IMPORT_BATCH = 5;
const TOOL_CALLS = [
  { id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } },
  { id: 'call_2', type: 'function' as const, function: { name: 'g', arguments: '{"x":1}' } },
];
const TOOL_OUTPUTS = [
  { tool_call_id: 'call_1', output: 'one' },
  { tool_call_id: 'call_2', output: 'two' },
];
const USAGE = { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 };

export interface WorkloadOptions {
  store: FaultStore;
  log: ViolationLog;
  workers: number;
  /** The reasons a `RunStoreUnavailableError` may give in this scenario. */
  reasons: readonly UnavailableReason[];
  /** Polled between scripts: `true` ends the worker. */
  stop: () => boolean;
  /** No worker starts a script after this (`Date.now()` ms). */
  deadline: number;
  /** A single call that has not settled after this is a hang (the worker then gives up). */
  callBoundMs: number;
  /** How long one step may keep failing and being retried. */
  stepBudgetMs: number;
  /** Scripts per worker at most. */
  maxScripts: number;
  /** Worker `w`'s ORM (default: the store's one ORM for all). */
  ormOf?: (w: number) => MikroORM;
  /** Called as worker `w` sends a call of `kind` (a fault injector's cue). */
  onCall?: (w: number, kind: CallKind) => void;
}

/** What the workers did, live (the orchestrator watches `ackedByWorker`). */
export interface WorkloadProgress {
  acked: Record<CallKind, number>;
  /** Failed calls per kind: the faults that hit each kind of call. */
  failed: Record<CallKind, number>;
  ackedByWorker: number[];
  scripts: number;
  /** Workers that gave up (a hang): they stopped early. */
  gaveUp: number;
  /** What each worker is calling right now (`null` between calls). */
  inFlight: (CallKind | null)[];
  /** Calls each worker has sent so far (tells one call from the next of the same kind). */
  callSeq: number[];
}

/** What a run must look like at the end. */
type Final =
  | { kind: 'exact'; shape: Shape; by: string }
  /** An overdue queued run: any expirer may expire it; it must be expired once an expireOverdue began after it existed. */
  | { kind: 'overdue'; queued: Shape; existsSeq: number }
  /** A run whose lease lapsed: any recoverer may requeue it; it must be queued once a recoverLapsed began after it lapsed. */
  | { kind: 'lapsed'; held: Shape; existsSeq: number };

class GiveUp extends Error {}

const zeros = (): Record<CallKind, number> => Object.fromEntries(CALL_KINDS.map((k) => [k, 0])) as Record<CallKind, number>;

export class Workload {
  readonly progress: WorkloadProgress;
  private readonly finals = new Map<string, Final>();
  private seq = 0;
  /** `seq` at the start of each acknowledged `expireOverdue`. */
  private readonly ackedExpireStarts: number[] = [];
  /** `seq` at the start of each acknowledged `recoverLapsed`. */
  private readonly ackedRecoverStarts: number[] = [];

  constructor(private readonly o: WorkloadOptions) {
    const perWorker = <T>(value: T): T[] => new Array<T>(o.workers).fill(value);
    this.progress = { acked: zeros(), failed: zeros(), ackedByWorker: perWorker(0), scripts: 0, gaveUp: 0, inFlight: perWorker<CallKind | null>(null), callSeq: perWorker(0) };
  }

  /** Runs the workers until `stop()` or the deadline; resolves when all have returned. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.o.workers }, (_, w) => this.worker(w)));
  }

  private async worker(w: number): Promise<void> {
    const scripts = this.scripts();
    try {
      for (let i = 0; i < this.o.maxScripts && !this.o.stop() && Date.now() < this.o.deadline; i++) {
        await scripts[(i + w) % scripts.length](w);
        this.progress.scripts++;
      }
    } catch (error) {
      if (!(error instanceof GiveUp)) throw error;
      this.progress.gaveUp++;
    }
  }

  // --- one call, bounded ------------------------------------------------------------------------

  private async call<T>(w: number, kind: CallKind, fn: (repo: RunRepository) => Promise<T>): Promise<Exclude<Outcome<T>, { state: 'hung' }>> {
    this.progress.inFlight[w] = kind;
    this.progress.callSeq[w]++;
    this.o.onCall?.(w, kind);
    const repo = this.o.store.runs(this.o.ormOf?.(w));
    const outcome = await timed(Promise.resolve().then(() => fn(repo)), this.o.callBoundMs);
    this.progress.inFlight[w] = null;
    if (outcome.state === 'hung') {
      this.o.log.add('hangs', `${kind}: did not settle within ${this.o.callBoundMs} ms`);
      throw new GiveUp();
    }
    if (outcome.state === 'error') {
      this.progress.failed[kind]++;
      checkAvailabilityError(this.o.log, kind, outcome.error, this.o.reasons);
    }
    return outcome;
  }

  private acked(kind: CallKind, w: number): void {
    this.progress.acked[kind]++;
    this.progress.ackedByWorker[w]++;
  }

  /**
   * After a failed write, what a caller does first: read the run through the store until the store
   * answers again (its failures are checked like any call's). Only then is the run judged, by SQL.
   */
  private async storeAnswers(w: number, kind: 'findById' | 'findActiveForThread', read: (repo: RunRepository) => Promise<unknown>, until: number): Promise<void> {
    for (let n = 0; ; n++) {
      const result = await this.call(w, kind, read);
      if (result.state === 'ok') return;
      if (Date.now() > until) {
        this.o.log.add('hangs', `${kind}: the store did not answer within ${this.o.stepBudgetMs} ms`);
        throw new GiveUp();
      }
      await sleep(Math.min(10 * 2 ** n, 200));
    }
  }

  /** SQL on the admin connection, retried while the server is away (until `until`). */
  private async admin<T>(fn: () => Promise<T>, until: number): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (error) {
        if (Date.now() > until) throw error;
        await sleep(50);
      }
    }
  }

  /** The stored shapes of `ids` by SQL. */
  private stored(ids: string[], until: number): Promise<Map<string, Shape>> {
    return this.admin(() => storedShapes(this.o.store, ids), until);
  }

  /**
   * Retries `attempt` until it reports the step done, with a short growing pause, for at most the
   * step budget; a step still failing then is recorded as a hang and the worker gives up.
   */
  private async retrying(kind: WriteKind, attempt: (until: number) => Promise<boolean>): Promise<void> {
    const until = Date.now() + this.o.stepBudgetMs;
    for (let n = 0; ; n++) {
      if (await attempt(until)) return;
      if (Date.now() > until) {
        this.o.log.add('hangs', `${kind}: still failing after ${this.o.stepBudgetMs} ms of retries`);
        throw new GiveUp();
      }
      await sleep(Math.min(10 * 2 ** n, 200));
    }
  }

  // --- steps ------------------------------------------------------------------------------------

  /** `create` on a fresh thread; resolved after a failure by looking the thread up. */
  private async create(w: number, assistantId: string): Promise<{ id: string; shape: Shape }> {
    const input = {
      thread_id: uid('thread'),
      assistant_id: assistantId,
      model: 'gpt-4o',
      tools: [{ type: 'code_interpreter' as const }, { type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }],
      metadata: { step: '0' },
    };
    const expected: Shape = {
      status: 'queued',
      metadata: { step: '0' },
      tools: 2,
      fileIds: 0,
      toolCalls: 0,
      requiredAction: false,
      usage: false,
      lastError: false,
      incompleteDetails: false,
      truncationStrategy: true,
      toolChoice: true,
      responseFormat: true,
    };
    let created: { id: string; shape: Shape } | undefined;
    await this.retrying('create', async (until) => {
      const result = await this.call(w, 'create', (repo) => repo.create(input));
      if (result.state === 'ok') {
        this.acked('create', w);
        const shape = shapeOfApi(result.value.toJSON());
        if (!isDeepStrictEqual(shape, expected)) this.o.log.add('lostWrites', 'create: the returned run differs from the input');
        created = { id: result.value.id, shape: expected };
        return true;
      }
      await this.storeAnswers(w, 'findActiveForThread', (repo) => repo.findActiveForThread(input.thread_id), until);
      const rows = await this.admin(() => this.o.store.sql<{ id: string }>('select id from run_object where thread_id = $1', [input.thread_id]), until);
      if (rows.length === 0) return false;
      if (!mayHaveWritten(result.error)) this.o.log.add('writtenDespiteError', 'create');
      const shape = (await this.stored([rows[0].id], until)).get(rows[0].id);
      if (!isDeepStrictEqual(shape, expected)) this.o.log.add('partialWrites', 'create: the run written by a failed call is incomplete');
      created = { id: rows[0].id, shape: shape ?? expected };
      return true;
    });
    this.finals.set(created!.id, { kind: 'exact', shape: created!.shape, by: 'create' });
    return created!;
  }

  /**
   * One write on a run the worker owns: `expected` is the run's shape after it. Acknowledged → the
   * returned run must show it. Failed → the stored run must be as before (retry), or — only when
   * the outcome is unknown — as after (done).
   */
  private async write(w: number, kind: WriteKind, run: { id: string; shape: Shape }, expected: Shape, fn: (repo: RunRepository) => Promise<RunObject | null>): Promise<void> {
    await this.retrying(kind, async (until) => {
      const before = run.shape;
      const result = await this.call(w, kind, fn);
      if (result.state === 'ok') {
        this.acked(kind, w);
        const value = result.value;
        if (value === null) this.o.log.add('lostWrites', `${kind}: returned nothing for a run it should have taken`);
        else if (value.id !== run.id) this.o.log.add('lostWrites', `${kind}: took another run`);
        else if (!isDeepStrictEqual(shapeOfApi(value.toJSON()), expected)) this.o.log.add('lostWrites', `${kind}: the returned run does not show the write`);
        run.shape = expected;
        this.finals.set(run.id, { kind: 'exact', shape: expected, by: kind });
        return true;
      }
      await this.storeAnswers(w, 'findById', (repo) => repo.findById(run.id), until);
      const actual = (await this.stored([run.id], until)).get(run.id);
      if (isDeepStrictEqual(actual, before)) return false;
      if (isDeepStrictEqual(actual, expected)) {
        if (!mayHaveWritten(result.error)) this.o.log.add('writtenDespiteError', kind);
      } else if (actual?.status === expected.status) {
        this.o.log.add('partialWrites', `${kind}: the run moved but its parts are not what the call wrote`);
      } else {
        this.o.log.add('lostWrites', `${kind}: after a failure the run is neither as before nor as after`);
      }
      run.shape = actual ?? expected;
      this.finals.set(run.id, { kind: 'exact', shape: run.shape, by: `${kind} (failed)` });
      return true;
    });
  }

  /**
   * `importRun` of a fresh run; a failure is resolved by looking the id up. `alsoOk`: another shape
   * the stored run may have by then without fault of the import (an overdue run another worker expired).
   */
  private async importRun(w: number, input: ApiRunInput, track = true, alsoOk?: (s: Shape) => Shape): Promise<{ id: string; shape: Shape }> {
    const expected = shapeOfApi(asStored(input));
    let written = expected;
    await this.retrying('importRun', async (until) => {
      const result = await this.call(w, 'importRun', (repo) => repo.importRun(input));
      if (result.state === 'ok') {
        this.acked('importRun', w);
        if (!isDeepStrictEqual(shapeOfApi(result.value.toJSON()), expected)) this.o.log.add('lostWrites', 'importRun: the returned run differs from the input');
        return true;
      }
      await this.storeAnswers(w, 'findById', (repo) => repo.findById(input.id), until);
      const actual = (await this.stored([input.id], until)).get(input.id);
      if (actual === undefined) return false;
      if (!mayHaveWritten(result.error)) this.o.log.add('writtenDespiteError', 'importRun');
      if (!isDeepStrictEqual(actual, expected) && !(alsoOk && isDeepStrictEqual(actual, alsoOk(expected)))) {
        this.o.log.add('partialWrites', 'importRun: the run written by a failed call is incomplete');
        written = actual;
      }
      return true;
    });
    if (track) this.finals.set(input.id, { kind: 'exact', shape: written, by: 'importRun' });
    return { id: input.id, shape: expected };
  }

  /** `importRuns` of a batch of fresh runs: after a failure, none of them or (outcome unknown) all of them. */
  private async importRuns(w: number): Promise<void> {
    const batch: ApiRunInput[] = Array.from({ length: IMPORT_BATCH }, (_, i) =>
      i % 2 === 0
        ? apiRunV1({ id: uid('run') })
        : apiRunV2({ id: uid('run'), status: 'completed', started_at: 1_716_000_001, completed_at: 1_716_000_002, expires_at: null }),
    );
    const ids = batch.map((r) => r.id);
    const expected = new Map(batch.map((r) => [r.id, shapeOfApi(asStored(r))]));
    await this.retrying('importRuns', async (until) => {
      const result = await this.call(w, 'importRuns', (repo) => repo.importRuns(batch));
      if (result.state === 'ok') {
        this.acked('importRuns', w);
        for (const line of result.value) if (line !== null) this.o.log.add('lostWrites', `importRuns: a good line reported as ${line.constructor.name}`);
        return true;
      }
      await this.storeAnswers(w, 'findById', (repo) => repo.findById(ids[0]), until);
      const stored = await this.stored(ids, until);
      if (stored.size === 0) return false;
      if (stored.size < ids.length) this.o.log.add('partialWrites', `importRuns: part of the batch written by a call that threw`);
      else if (!mayHaveWritten(result.error)) this.o.log.add('writtenDespiteError', 'importRuns');
      for (const [id, shape] of stored) if (!isDeepStrictEqual(shape, expected.get(id))) this.o.log.add('partialWrites', 'importRuns: a run written by a failed call is incomplete');
      // Written (all or part): the call is repeated, as a caller would; it replaces what is there.
      return false;
    });
    for (const [id, shape] of expected) this.finals.set(id, { kind: 'exact', shape, by: 'importRuns' });
  }

  /** An overdue queued run imported, then `expireOverdue` (any worker's call may be the one that expires it). */
  private async expireOverdue(w: number): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const input = apiRunV2({ id: uid('run'), status: 'queued', created_at: now - 1000, expires_at: now - 100 });
    const { id, shape } = await this.importRun(w, input, false, (q) => ({ ...q, status: 'expired' }));
    const queued = shape;
    this.finals.set(id, { kind: 'overdue', queued, existsSeq: ++this.seq });
    const expired = { ...queued, status: 'expired' };
    await this.retrying('expireOverdue', async (until) => {
      const startSeq = ++this.seq;
      const result = await this.call(w, 'expireOverdue', (repo) => repo.expireOverdue());
      if (result.state === 'ok') {
        this.acked('expireOverdue', w);
        this.ackedExpireStarts.push(startSeq);
        return true;
      }
      await this.storeAnswers(w, 'findById', (repo) => repo.findById(id), until);
      const actual = (await this.stored([id], until)).get(id);
      if (!isDeepStrictEqual(actual, queued) && !isDeepStrictEqual(actual, expired)) {
        this.o.log.add('lostWrites', 'expireOverdue: after a failure an overdue run is neither queued nor expired');
        return true;
      }
      return false;
    });
  }

  /**
   * A run claimed under a lease, the lease made to lapse (by SQL, not by waiting), then
   * `recoverLapsed` (any worker's call may be the one that requeues it).
   */
  private async recoverLapsed(w: number): Promise<void> {
    const assistant = uid('asst');
    const run = await this.create(w, assistant);
    const held = { ...run.shape, status: 'in_progress' };
    await this.write(w, 'claimNext', run, held, (r) => r.claimNext({ assistant_id: assistant, worker: `faults-${w}`, leaseSeconds: 3600 }));
    if (run.shape.status !== 'in_progress') return; // the claim's outcome was resolved otherwise; nothing to recover
    // The test's own admin statement: across a restart it is repeated until the server is back (bounded).
    for (let tries = 0; ; tries++) {
      try {
        await this.o.store.sql(`update run_object set lease_expires_at = now() - interval '1 second' where id = $1 and lease_owner is not null`, [run.id]);
        break;
      } catch (error) {
        if (tries >= 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    this.finals.set(run.id, { kind: 'lapsed', held, existsSeq: ++this.seq });
    const queued = { ...held, status: 'queued' };
    await this.retrying('recoverLapsed', async (until) => {
      const startSeq = ++this.seq;
      const result = await this.call(w, 'recoverLapsed', (repo) => repo.recoverLapsed({ maxAttempts: 1000 }));
      if (result.state === 'ok') {
        this.acked('recoverLapsed', w);
        this.ackedRecoverStarts.push(startSeq);
        return true;
      }
      await this.storeAnswers(w, 'findById', (repo) => repo.findById(run.id), until);
      const actual = (await this.stored([run.id], until)).get(run.id);
      if (!isDeepStrictEqual(actual, held) && !isDeepStrictEqual(actual, queued)) {
        this.o.log.add('lostWrites', 'recoverLapsed: after a failure a lapsed run is neither in progress nor queued');
        return true;
      }
      return false;
    });
  }

  private scripts(): ((w: number) => Promise<void>)[] {
    const moved = (run: { shape: Shape }, status: string, more: Partial<Shape> = {}): Shape => ({
      ...run.shape,
      status,
      ...(status === 'requires_action' ? {} : { requiredAction: false, toolCalls: 0 }),
      ...more,
    });
    const start = (w: number, run: { id: string; shape: Shape }) => this.write(w, 'start', run, moved(run, 'in_progress'), (r) => r.start(run.id));
    const claim = (w: number, run: { id: string; shape: Shape }, assistantId: string) =>
      this.write(w, 'claimNext', run, moved(run, 'in_progress'), (r) => r.claimNext({ assistant_id: assistantId }));
    const requireAction = (w: number, run: { id: string; shape: Shape }) =>
      this.write(w, 'requireAction', run, moved(run, 'requires_action', { requiredAction: true, toolCalls: 2 }), (r) => r.requireAction(run.id, TOOL_CALLS));
    const submit = (w: number, run: { id: string; shape: Shape }) => this.write(w, 'submitToolOutputs', run, moved(run, 'queued'), (r) => r.submitToolOutputs(run.id, TOOL_OUTPUTS));
    const cancel = (w: number, run: { id: string; shape: Shape }) =>
      this.write(w, 'cancel', run, moved(run, run.shape.status === 'in_progress' ? 'cancelling' : 'cancelled'), (r) => r.cancel(run.id));
    const metadata = (w: number, run: { id: string; shape: Shape }, value: string) =>
      this.write(w, 'updateMetadata', run, { ...run.shape, metadata: { step: value } }, (r) => r.updateMetadata(run.id, { step: value }));

    return [
      async (w) => {
        const run = await this.create(w, uid('asst'));
        await start(w, run);
        await metadata(w, run, '1');
        await requireAction(w, run);
        await submit(w, run);
        await start(w, run);
        await this.write(w, 'complete', run, moved(run, 'completed', { usage: true }), (r) => r.complete(run.id, USAGE));
      },
      async (w) => {
        const assistant = uid('asst');
        const run = await this.create(w, assistant);
        await claim(w, run, assistant);
        await cancel(w, run);
        await this.write(w, 'confirmCancelled', run, moved(run, 'cancelled'), (r) => r.confirmCancelled(run.id));
      },
      async (w) => {
        const run = await this.create(w, uid('asst'));
        await cancel(w, run);
        await metadata(w, run, 'after-cancel');
      },
      async (w) => {
        const run = await this.create(w, uid('asst'));
        await start(w, run);
        await this.write(w, 'fail', run, moved(run, 'failed', { lastError: true }), (r) => r.fail(run.id, { code: 'server_error', message: 'boom' }));
      },
      async (w) => {
        const assistant = uid('asst');
        const run = await this.create(w, assistant);
        await claim(w, run, assistant);
        await requireAction(w, run);
        await cancel(w, run);
      },
      async (w) => {
        const assistant = uid('asst');
        const run = await this.importRun(w, apiRunWithEveryPart({ id: uid('run'), thread_id: uid('thread'), assistant_id: assistant, required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: TOOL_CALLS } } }));
        await submit(w, run);
        await claim(w, run, assistant);
        await this.write(w, 'markIncomplete', run, moved(run, 'incomplete', { incompleteDetails: true, usage: true }), (r) =>
          r.markIncomplete(run.id, { reason: 'max_completion_tokens' }, USAGE),
        );
      },
      (w) => this.importRuns(w),
      (w) => this.expireOverdue(w),
      (w) => this.recoverLapsed(w),
    ];
  }

  // --- the end ----------------------------------------------------------------------------------

  /** Every run the workers wrote (and `verify` checks). */
  get runIds(): string[] {
    return [...this.finals.keys()];
  }

  /** Every run the workers wrote, checked against what they were told; then the whole database for orphans. */
  async verify(): Promise<{ runs: number }> {
    const ids = [...this.finals.keys()];
    const stored = await storedShapes(this.o.store, ids);
    for (const [id, final] of this.finals) {
      const actual = stored.get(id);
      if (final.kind === 'exact') {
        if (actual === undefined) this.o.log.add('lostWrites', `${final.by}: acknowledged run missing`);
        else if (!isDeepStrictEqual(actual, final.shape)) this.o.log.add('lostWrites', `${final.by}: stored run differs from the acknowledged write`);
        continue;
      }
      if (final.kind === 'lapsed') {
        const mustBeQueued = this.ackedRecoverStarts.some((s) => s > final.existsSeq);
        const queued = { ...final.held, status: 'queued' };
        const ok = mustBeQueued ? isDeepStrictEqual(actual, queued) : isDeepStrictEqual(actual, queued) || isDeepStrictEqual(actual, final.held);
        if (!ok) this.o.log.add('lostWrites', mustBeQueued ? 'recoverLapsed: an acknowledged recovery did not requeue a lapsed run' : 'claimNext: a leased run missing or altered');
        continue;
      }
      const mustBeExpired = this.ackedExpireStarts.some((s) => s > final.existsSeq);
      const expired = { ...final.queued, status: 'expired' };
      const ok = mustBeExpired ? isDeepStrictEqual(actual, expired) : isDeepStrictEqual(actual, expired) || isDeepStrictEqual(actual, final.queued);
      if (!ok) this.o.log.add('lostWrites', mustBeExpired ? 'expireOverdue: an acknowledged expiry did not expire an overdue run' : 'importRun: overdue run missing or altered');
    }
    for (const [name, n] of Object.entries(await orphanCounts(this.o.store))) this.o.log.add('orphans', name, n);
    return { runs: ids.length };
  }
}


/**
 * Property: every public method of RunRepository, given invalid arguments made by mutating valid
 * ones (hostile.ts), refuses them with the package's own error — `RunValidationError`, or
 * `InvalidListQueryError` for the lists and aggregates — before it sends any SQL at all, with a
 * short message; and no table changes (row count and checksum of every table, by SQL).
 *
 * The valid arguments are aimed at seeded runs where the call would succeed and write (start a
 * queued run, claim it, expire an overdue one, create and import runs…), so a mutation that slipped
 * through would show as a statement sent and a table changed, not only as a missing error.
 *
 * ARS_FUZZ_CASES sets the total number of cases (default 12,000), split across the methods by weight;
 * the seed is random (fast-check prints it with any counterexample; ARS_FUZZ_SEED replays one).
 */
import fc from 'fast-check';
import { UNIX_SECONDS_END } from '../../src/api/arguments';
import type { ApiRunInput } from '../../src/api/types';
import { RunObject } from '../../src/entities/run-object.entity';
import { InvalidListQueryError, RunValidationError } from '../../src/errors';
import { EntityRepository } from '@mikro-orm/postgresql';
import { RunRepository } from '../../src/repositories/run.repository';
import { apiRunV1, apiRunV2, createRunInput, lastError, metadataObject, toolCall, usage } from '../entities/arbitraries';
import { apiRunV2 as runV2, uid } from '../factories';
import { recordingOrm } from '../support/recording-orm';
import { tableChecksums } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';
import { CREATE_BAD_FIELD_VALUES, mutateOptions, mutatePayload, NON_JSON, notAnId, notJson, poison, tooDeep, tooLong, type Mutated } from './hostile';

const db = useTestDatabase();

const TOTAL = Number(process.env.ARS_FUZZ_CASES ?? 12_000);
const SEED = process.env.ARS_FUZZ_SEED ? Number(process.env.ARS_FUZZ_SEED) : undefined;
/** The longest message a refusal may have: it quotes caller values only as excerpts. */
const MESSAGE_MAX = 300;

type ErrorClass = typeof RunValidationError | typeof InvalidListQueryError;

/** One generated call: the arguments, what was done to them, the field the refusal should name (when one is certain). */
class Case {
  constructor(
    readonly label: string,
    readonly args: unknown[],
    readonly field?: string,
  ) {}
  // fast-check prints this for a counterexample (the arguments themselves can be 6,000 deep or 300k long)
  [fc.toStringMethod](): string {
    return `${this.label} (field ${this.field ?? '?'})`;
  }
}

/** `valid` with argument `index` replaced by each mutation. */
const at = (valid: unknown[], index: number, mutations: fc.Arbitrary<Mutated>, field?: string) =>
  mutations.map((m) => new Case(`arg ${index}: ${m.label}`, valid.map((v, i) => (i === index ? m.value : v)), field));

const asMutations = (values: fc.Arbitrary<unknown>, label: string): fc.Arbitrary<Mutated> => values.map((value) => ({ label, value }));

/** An id argument replaced by everything that is not an id. */
const idAt = (valid: unknown[], index: number, field: string) => at(valid, index, asMutations(notAnId(valid[index] as string), `not an id`), field);

const COMMON_RUN_KEYS = ['id', 'object', 'created_at', 'thread_id', 'assistant_id', 'status', 'required_action', 'last_error', 'expires_at', 'started_at', 'cancelled_at', 'failed_at', 'completed_at', 'model', 'instructions', 'tools', 'metadata'];
const V2_RUN_KEYS = ['incomplete_details', 'usage', 'max_prompt_tokens', 'max_completion_tokens', 'truncation_strategy', 'tool_choice', 'parallel_tool_calls', 'response_format'];
const requiredOfRun = (run: ApiRunInput) => ('file_ids' in run ? COMMON_RUN_KEYS : [...COMMON_RUN_KEYS, ...V2_RUN_KEYS]);

const anyRun = fc.oneof(apiRunV2, apiRunV1) as fc.Arbitrary<ApiRunInput>;
const mutatedRun = anyRun.chain((run) => mutatePayload(run, { rootRequired: requiredOfRun(run) }));
/** A whole argument that should have been an object (a run, an input) and is not. */
const notAnObject = (like: fc.Arbitrary<unknown>) =>
  fc.oneof(
    fc.constantFrom<unknown>(undefined, null, 5, 'x', true, []).map((value) => ({ label: 'not an object', value })),
    like.map((v) => ({ label: 'an array of it', value: [v] })),
    notJson.map((value) => ({ label: 'not JSON', value })),
  );

interface Seeded {
  queued: { id: string; thread: string; assistant: string; model: string };
  /** Claimed with a lease of an hour: a heartbeat would extend it. */
  leased: { id: string; worker: string; attempt: number };
  inProgress: string;
  requiresAction: string;
  cancelling: string;
  completed: { id: string; thread: string; assistant: string };
}

const now = () => Math.floor(Date.now() / 1000);

async function seed(runs: RunRepository): Promise<Seeded> {
  const queued = runV2({ status: 'queued', created_at: now() - 60, expires_at: now() + 86_400, assistant_id: uid('asst_fuzz'), model: uid('model') });
  const other = (status: 'in_progress' | 'requires_action' | 'cancelling' | 'completed', extra = {}) => runV2({ status, created_at: now() - 60, expires_at: status === 'completed' ? null : now() + 86_400, ...extra });
  const inProgress = other('in_progress', { started_at: now() - 50 });
  const requiresAction = other('requires_action', {
    started_at: now() - 50,
    required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [1, 2].map((i) => ({ id: `call_${i}`, type: 'function', function: { name: 'f', arguments: '{}' } })) } },
  });
  const cancelling = other('cancelling', { started_at: now() - 50 });
  const completed = other('completed', { started_at: now() - 50, completed_at: now() - 40, metadata: { k: 'v' } });
  // overdue: expireOverdue(now) would expire it
  const overdue = runV2({ status: 'in_progress', created_at: now() - 7200, expires_at: now() - 3600, started_at: now() - 7000 });
  // claimable only by their assistants' filters: one held for an hour, one whose lease has lapsed (recoverLapsed would take it back)
  const toLease = runV2({ status: 'queued', created_at: now() - 60, expires_at: now() + 86_400, assistant_id: uid('asst_lease') });
  const toLapse = runV2({ status: 'queued', created_at: now() - 60, expires_at: now() + 86_400, assistant_id: uid('asst_lapse') });
  for (const run of [queued, inProgress, requiresAction, cancelling, completed, overdue, toLease, toLapse]) await runs.importRun(run);
  const leased = (await runs.claimNext({ assistant_id: toLease.assistant_id, worker: 'fuzz-worker', leaseSeconds: 3600 }))!;
  await runs.claimNext({ assistant_id: toLapse.assistant_id, worker: 'fuzz-worker', leaseSeconds: 0.001 });
  return {
    queued: { id: queued.id, thread: queued.thread_id, assistant: queued.assistant_id, model: queued.model },
    leased: { id: leased.id, worker: leased.leaseOwner!, attempt: leased.attempt },
    inProgress: inProgress.id,
    requiresAction: requiresAction.id,
    cancelling: cancelling.id,
    completed: { id: completed.id, thread: completed.thread_id, assistant: completed.assistant_id },
  };
}

interface Spec {
  method: keyof RunRepository;
  weight: number;
  error: ErrorClass;
  cases: fc.Arbitrary<Case>;
  /** `importRuns` reports bad runs in its result rather than throwing. */
  perItem?: boolean;
}

function specs(s: Seeded): Spec[] {
  const runIdAt = (method: keyof RunRepository, id: string, weight = 3): Spec => ({ method, weight, error: RunValidationError, cases: idAt([id], 0, 'id') });
  const notIdValue = (valid: string, nullOk: boolean) => notAnId(valid).filter((v) => v !== undefined && (!nullOk || v !== null));

  const tool = (calls: unknown[]) => mutatePayload(calls, { rootKey: 'tool_calls' });
  const toolCalls = fc.uniqueArray(toolCall, { minLength: 1, maxLength: 3, selector: (c) => c.id });
  const outputs = [1, 2].map((i) => ({ tool_call_id: `call_${i}`, output: 'ok' }));
  const sameOutputTwice = [...outputs, { tool_call_id: 'call_1', output: 'again' }];
  const details = fc.record({ reason: fc.constantFrom('max_completion_tokens', 'max_prompt_tokens') }, { requiredKeys: [] });

  const queryBase = (cursor: string) =>
    fc.record(
      {
        limit: fc.integer({ min: 1, max: 100 }),
        order: fc.constantFrom('asc', 'desc'),
        after: fc.constant(cursor),
        status: fc.constantFrom('completed', ['completed', 'queued']),
      },
      { requiredKeys: [] },
    );
  const LIST_KEYS = ['limit', 'order', 'after', 'before', 'status'];
  const listBad = (cursor: string): Record<string, fc.Arbitrary<unknown>> => ({
    limit: fc.constantFrom<unknown>(0, 101, 1.5, -1, '20', Number.NaN, Number.POSITIVE_INFINITY, true, {}, [], 10n),
    order: fc.oneof(fc.constantFrom<unknown>('up', 'DESC', '', 1, {}, ['asc']), fc.constant(poison('asc', 1, 0))),
    after: notIdValue(cursor, true),
    before: notIdValue(cursor, true),
    status: fc.oneof(fc.constantFrom<unknown>('done', 'QUEUED', '', [], ['queued', 'nope'], ['queued', 5], 5, {}, [['queued']]), fc.constant(poison('queued', 2, 1))),
  });
  const listQueryAt = (valid: unknown[], index: number, cursor: string) =>
    queryBase(cursor).chain((q) => at([...valid.slice(0, index), q], index, mutateOptions(q, LIST_KEYS, listBad(cursor))));

  const FILTER_KEYS = ['thread_id', 'assistant_id', 'created_after', 'created_before'];
  const badTime = fc.constantFrom<unknown>(-1, 1e20, -1e20, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, UNIX_SECONDS_END + 1, '2024-01-01', true, {}, [], 10n, new Date());
  const filterBase = fc.record(
    { thread_id: fc.constant(s.completed.thread), assistant_id: fc.constant(s.completed.assistant), created_after: fc.integer({ min: 0, max: now() }), created_before: fc.integer({ min: 0, max: UNIX_SECONDS_END }) },
    { requiredKeys: [] },
  );
  const filterCases = filterBase.chain((f) =>
    at([f], 0, mutateOptions(f, FILTER_KEYS, { thread_id: notIdValue(s.completed.thread, true), assistant_id: notIdValue(s.completed.assistant, true), created_after: badTime, created_before: badTime })),
  );

  const statuses = fc.oneof(
    fc.constantFrom<unknown>('done', 'QUEUED', 'queued ', '', [], ['queued', 'nope'], [null], ['queued', ['queued']], 5, null, undefined, {}, true),
    tooLong,
    fc.constant(poison('queued', 3, 0)),
    notJson,
  );

  class FakeDate {
    getTime() {
      return Date.now();
    }
    toISOString() {
      return new Date().toISOString();
    }
  }
  const badDates = fc.oneof(
    fc.constantFrom<unknown>(
      new Date(Number.NaN),
      new Date(-1),
      new Date(UNIX_SECONDS_END * 1000),
      new Date(8.64e15),
      new Date(-8.64e15),
      Date.now(),
      new Date().toISOString(),
      null,
      {},
      [],
      0,
      true,
      new FakeDate(),
      Object.create(Date.prototype),
      { [Symbol.toStringTag]: 'Date', getTime: () => Date.now() },
      new (class extends Date {
        override getTime() {
          return Date.now();
        }
      })(Number.NaN),
    ),
    notJson.filter((v) => !(v instanceof Date)),
  );

  const claimBase = fc.record({ assistant_id: fc.constant(s.queued.assistant), model: fc.constant(s.queued.model), waitMs: fc.constantFrom(0, 50) }, { requiredKeys: [] });
  const badWaitMs = fc.constantFrom<unknown>(-1, 1.5, 2 ** 31, '10', Number.NaN, Number.POSITIVE_INFINITY, null, true, {}, [], 10n);
  const notASignal = fc.constantFrom<unknown>(null, {}, 'signal', 5, true, [], { aborted: 'no', addEventListener() {}, removeEventListener() {} }, { aborted: false });
  const claimCases = claimBase.chain((o) =>
    at([o], 0, mutateOptions(o, ['assistant_id', 'model', 'waitMs', 'signal'], { assistant_id: notIdValue(s.queued.assistant, false), model: notIdValue(s.queued.model, false), waitMs: badWaitMs, signal: notASignal })),
  );
  const waitCases = fc.record({ timeoutMs: fc.constantFrom(0, 50) }, { requiredKeys: [] }).chain((o) =>
    fc.oneof(
      idAt([s.completed.id, 'completed', o], 0, 'id'),
      at([s.completed.id, 'completed', o], 1, asMutations(statuses, 'not statuses'), 'statuses'),
      at([s.completed.id, 'completed', o], 2, mutateOptions(o, ['timeoutMs', 'signal'], { timeoutMs: badWaitMs, signal: notASignal }), 'options'),
    ),
  );

  /** fail and markIncomplete: (id, the detail they require, usage), each argument mutated in turn. */
  const withDetail = (method: 'fail' | 'markIncomplete', key: string, detail: fc.Arbitrary<unknown>): Spec => ({
    method,
    weight: 5,
    error: RunValidationError,
    cases: fc.tuple(detail, usage).chain(([d, u]) =>
      fc.oneof(
        idAt([s.inProgress, d, u], 0, 'id'),
        { arbitrary: at([s.inProgress, d, u], 1, fc.oneof(mutatePayload(d, { rootKey: key }), asMutations(fc.constantFrom(undefined, null), 'absent')), key), weight: 2 },
        at([s.inProgress, d, u], 2, mutatePayload(u, { rootKey: 'usage' }), 'usage'),
      ),
    ),
  });

  const forgedBatch = { prepared: true, results: [null], valid: [], ids: [], statement: { sql: 'delete from run_object', params: [] } };

  return [
    {
      method: 'create',
      weight: 12,
      error: RunValidationError,
      cases: fc.oneof(
        { arbitrary: createRunInput.chain((input) => at([input], 0, mutatePayload(input, { rootRequired: ['thread_id', 'assistant_id', 'model'], badFields: CREATE_BAD_FIELD_VALUES }))), weight: 9 },
        at([null], 0, notAnObject(createRunInput)),
      ),
    },
    {
      method: 'createRun',
      weight: 3,
      error: RunValidationError,
      cases: createRunInput.chain((input) => at([input], 0, mutatePayload(input, { rootRequired: ['thread_id', 'assistant_id', 'model'], badFields: CREATE_BAD_FIELD_VALUES }))),
    },
    {
      method: 'importRun',
      weight: 14,
      error: RunValidationError,
      cases: fc.oneof({ arbitrary: at([null], 0, mutatedRun), weight: 9 }, at([null], 0, notAnObject(anyRun))),
    },
    {
      method: 'importRuns',
      weight: 6,
      error: RunValidationError,
      perItem: true,
      cases: fc.oneof(
        { arbitrary: fc.array(mutatedRun, { minLength: 1, maxLength: 3 }).map((ms) => new Case(ms.map((m) => m.label).join('; '), [ms.map((m) => m.value)])), weight: 4 },
        at([null], 0, fc.oneof(asMutations(fc.constantFrom<unknown>(undefined, null, 5, 'x', {}, forgedBatch, new Map(), ...NON_JSON), 'not an array'), asMutations(anyRun, 'one run, not an array'), asMutations(tooDeep, 'too deep')), 'runs'),
      ),
    },
    runIdAt('findById', s.queued.id),
    runIdAt('getById', s.queued.id),
    runIdAt('history', s.queued.id, 2),
    {
      method: 'getForThread',
      weight: 3,
      error: RunValidationError,
      cases: fc.oneof(idAt([s.queued.thread, s.queued.id], 0, 'thread_id'), idAt([s.queued.thread, s.queued.id], 1, 'id')),
    },
    { method: 'findActiveForThread', weight: 3, error: RunValidationError, cases: idAt([s.queued.thread], 0, 'thread_id') },
    runIdAt('start', s.queued.id),
    runIdAt('cancel', s.queued.id),
    runIdAt('confirmCancelled', s.cancelling),
    {
      method: 'requireAction',
      weight: 7,
      error: RunValidationError,
      cases: toolCalls.chain((calls) =>
        fc.oneof(
          idAt([s.inProgress, calls], 0, 'id'),
          { arbitrary: at([s.inProgress, calls], 1, tool(calls), 'tool_calls'), weight: 4 },
          at([s.inProgress, calls], 1, asMutations(fc.constantFrom<unknown>([], [calls[0], calls[0]], undefined, null, calls[0]), 'empty, repeated, absent or one call'), 'tool_calls'),
        ),
      ),
    },
    {
      method: 'submitToolOutputs',
      weight: 6,
      error: RunValidationError,
      cases: fc.oneof(
        idAt([s.requiresAction, outputs], 0, 'id'),
        { arbitrary: at([s.requiresAction, outputs], 1, mutatePayload(outputs, { rootKey: 'tool_outputs' }), 'tool_outputs'), weight: 4 },
        at([s.requiresAction, outputs], 1, asMutations(fc.constantFrom<unknown>(sameOutputTwice, undefined, null, outputs[0]), 'repeated, absent or one output'), 'tool_outputs'),
      ),
    },
    {
      method: 'complete',
      weight: 4,
      error: RunValidationError,
      cases: usage.chain((u) => fc.oneof(idAt([s.inProgress, u], 0, 'id'), { arbitrary: at([s.inProgress, u], 1, mutatePayload(u, { rootKey: 'usage' }), 'usage'), weight: 2 })),
    },
    withDetail('fail', 'last_error', lastError),
    withDetail('markIncomplete', 'incomplete_details', details),
    { method: 'expireOverdue', weight: 3, error: RunValidationError, cases: at([new Date()], 0, asMutations(badDates, 'not a valid Date'), 'now') },
    { method: 'claimNext', weight: 5, error: RunValidationError, cases: claimCases },
    { method: 'waitForStatus', weight: 4, error: RunValidationError, cases: waitCases },
    {
      method: 'updateMetadata',
      weight: 6,
      error: RunValidationError,
      cases: metadataObject.chain((m) =>
        fc.oneof(
          idAt([s.completed.id, m], 0, 'id'),
          { arbitrary: at([s.completed.id, m], 1, fc.oneof(mutatePayload(m, { place: 'openRoot' }), asMutations(fc.constant(undefined), 'absent')), 'metadata'), weight: 3 },
        ),
      ),
    },
    {
      method: 'listByThread',
      weight: 5,
      error: InvalidListQueryError,
      cases: fc.oneof(idAt([s.completed.thread, undefined], 0, 'thread_id'), listQueryAt([s.completed.thread], 1, s.completed.id)),
    },
    {
      method: 'listByAssistant',
      weight: 4,
      error: InvalidListQueryError,
      cases: fc.oneof(idAt([s.completed.assistant, undefined], 0, 'assistant_id'), listQueryAt([s.completed.assistant], 1, s.completed.id)),
    },
    {
      method: 'listByStatus',
      weight: 4,
      error: InvalidListQueryError,
      cases: fc.oneof(at(['completed', undefined], 0, asMutations(statuses, 'not a status'), 'status'), listQueryAt(['completed'], 1, s.completed.id)),
    },
    {
      method: 'heartbeat',
      weight: 4,
      error: RunValidationError,
      cases: fc.oneof(
        idAt([s.leased.id, { worker: s.leased.worker, attempt: s.leased.attempt, leaseSeconds: 600 }], 0, 'id'),
        at(
          [s.leased.id],
          1,
          mutateOptions({ worker: s.leased.worker, attempt: s.leased.attempt, leaseSeconds: 600 }, ['worker', 'attempt', 'leaseSeconds'], {
            worker: fc.oneof(fc.constantFrom<unknown>('', 5, null, {}, ['w']), tooLong, fc.constant(poison(s.leased.worker, 3, 0))),
            attempt: fc.constantFrom<unknown>(0, -1, 1.5, Number.NaN, 2 ** 31, '1', null, true),
            leaseSeconds: fc.constantFrom<unknown>(0, -1, 86_401, Number.NaN, Number.POSITIVE_INFINITY, '60', null, []),
          }),
          'options',
        ),
      ),
    },
    {
      method: 'recoverLapsed',
      weight: 3,
      error: RunValidationError,
      cases: at(
        [null],
        0,
        mutateOptions({ maxAttempts: 3, batchSize: 100 }, ['maxAttempts', 'batchSize'], {
          maxAttempts: fc.constantFrom<unknown>(0, -1, 1.5, Number.NaN, 2 ** 31, '3', null, true, {}),
          batchSize: fc.constantFrom<unknown>(0, -1, 1.5, 10_001, Number.NaN, '100', null, []),
        }),
        'options',
      ),
    },
    {
      method: 'purgeRuns',
      weight: 4,
      error: RunValidationError,
      cases: fc.constantFrom<Record<string, unknown>>({ before: new Date(), statuses: ['completed'], batchSize: 100 }, { olderThanSeconds: 0, dryRun: false }).chain((o) =>
        at(
          [null],
          0,
          mutateOptions(o, ['olderThanSeconds', 'before', 'statuses', 'batchSize', 'dryRun', 'onBatch'], {
            olderThanSeconds: fc.constantFrom<unknown>(-1, Number.NaN, Number.POSITIVE_INFINITY, 1e20, '60', null, true, []),
            before: badDates,
            // (absent statuses are valid here: every terminal status)
            statuses: fc.oneof(statuses.filter((v) => v !== undefined), fc.constantFrom<unknown>(['queued'], ['completed', 'in_progress'], ['cancelling'])),
            batchSize: fc.constantFrom<unknown>(0, -1, 1.5, 10_001, Number.NaN, '100', true, []),
            dryRun: fc.constantFrom<unknown>('yes', 1, 0, [], {}),
            onBatch: fc.constantFrom<unknown>('f', 1, {}, [], true),
          }),
          'options',
        ),
      ),
    },
    { method: 'countByStatus', weight: 3, error: InvalidListQueryError, cases: filterCases },
    { method: 'usageTotals', weight: 3, error: InvalidListQueryError, cases: filterCases },
  ];
}

/** Why `error` is not the refusal expected (or null when it is). */
function wrongRefusal(error: unknown, expected: ErrorClass, field: string | undefined): string | null {
  if (!(error instanceof expected)) {
    const what = error instanceof Error ? `${error.constructor.name}: ${error.message.slice(0, 200)}` : `a thrown ${typeof error}`;
    return `expected ${expected.name}, got ${what}`;
  }
  if (error.message.length > MESSAGE_MAX) return `message of ${error.message.length} characters: ${error.message.slice(0, 120)}…`;
  if (field !== undefined) {
    const named = error instanceof RunValidationError ? error.issues.map((i) => i.field) : [(error as InvalidListQueryError).parameter];
    const fits = (f: string) => f === field || f.startsWith(`${field}.`) || f.startsWith(`${field}[`);
    if (!named.some(fits)) return `expected a refusal of ${field}, got ${named.join(', ')}`;
  }
  return null;
}

describe('every public method refuses invalid arguments with a typed error, before any SQL', () => {
  let seeded: Seeded;
  let runs: () => RunRepository;
  let statements: string[];
  let before: Record<string, string>;
  let cases = 0;
  const started = Date.now();

  beforeAll(async () => {
    seeded = await seed(db.runs());
    const recording = await recordingOrm(db);
    statements = recording.statements;
    runs = () => recording.orm.em.fork().getRepository(RunObject);
    before = await tableChecksums(db);
  });

  const plan = () => {
    const list = specs(seeded);
    const weights = list.reduce((sum, spec) => sum + spec.weight, 0);
    return list.map((spec) => ({ ...spec, numRuns: Math.max(1, Math.ceil((TOTAL * spec.weight) / weights)) }));
  };

  // The specs need the seeded ids, so each method's property is built inside its test.
  const METHODS = [
    'create', 'createRun', 'importRun', 'importRuns', 'findById', 'getById', 'history', 'getForThread', 'findActiveForThread', 'start', 'cancel', 'confirmCancelled', 'requireAction',
    'submitToolOutputs', 'complete', 'fail', 'markIncomplete', 'expireOverdue', 'claimNext', 'updateMetadata', 'listByThread', 'listByAssistant',
    'listByStatus', 'countByStatus', 'usageTotals', 'heartbeat', 'recoverLapsed', 'purgeRuns', 'waitForStatus',
  ] as const;
  /** Public methods that take no arguments (`runs.api`'s reads share the managed reads' checks: the same functions of reads.ts). */
  const NO_ARGUMENTS = ['withPrimaryReads', 'closeListener'];

  it('covers every public method the store adds to EntityRepository', () => {
    const own = Object.getOwnPropertyNames(RunRepository.prototype).filter((name) => name !== 'constructor' && typeof Object.getOwnPropertyDescriptor(RunRepository.prototype, name)?.value === 'function');
    const inherited = new Set<string>();
    for (let proto: object | null = EntityRepository.prototype; proto; proto = Object.getPrototypeOf(proto)) for (const name of Object.getOwnPropertyNames(proto)) inherited.add(name);
    const added = own.filter((name) => !inherited.has(name)).sort();
    // `create` overrides the ORM's (and is fuzzed); nativeUpdate/upsert/upsertMany are the ORM's, guarded (test/lifecycle/status-guard)
    expect(added).toEqual([...METHODS, ...NO_ARGUMENTS].filter((name) => !inherited.has(name)).sort());
  });

  it.each(METHODS)('%s', async (method) => {
    const spec = plan().find((p) => p.method === method)!;
    await fc.assert(
      fc.asyncProperty(spec.cases, async (c) => {
        cases++;
        const sent = statements.length;
        const outcome = await (runs()[spec.method] as (...args: unknown[]) => Promise<unknown>)(...c.args).then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        );
        if ('error' in outcome) {
          const wrong = wrongRefusal(outcome.error, spec.error, c.field);
          if (wrong) throw new Error(wrong);
        } else if (spec.perItem && Array.isArray(outcome.value) && outcome.value.length === (c.args[0] as unknown[]).length) {
          for (const result of outcome.value) {
            const wrong = wrongRefusal(result, spec.error, undefined);
            if (wrong) throw new Error(`a run of the batch: ${wrong}`);
          }
        } else {
          throw new Error(`accepted: returned ${typeof outcome.value}`);
        }
        if (statements.length !== sent) throw new Error(`sent ${statements.length - sent} statement(s): ${statements[sent].slice(0, 160)}`);
      }),
      { numRuns: spec.numRuns, seed: SEED },
    );
    expect(await tableChecksums(db)).toEqual(before);
  });

  it(`ran at least 10,000 cases in all, and nothing was written`, async () => {
    expect(cases).toBeGreaterThanOrEqual(Math.min(TOTAL, 10_000));
    expect(await tableChecksums(db)).toEqual(before);
    // the checksums see a write: the valid form of a fuzzed call changes them
    await runs().start(seeded.queued.id);
    expect(await tableChecksums(db)).not.toEqual(before);
    if (process.env.ARS_FUZZ_REPORT) process.stderr.write(`fuzz: ${cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });
});

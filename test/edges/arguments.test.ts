/**
 * The argument checks of every public method, case by case: the bounds themselves (just inside
 * is stored and comes back, just outside is refused), and each escape the edges issue measured
 * (raw driver errors, TypeErrors, RangeErrors, ignored options, non-string ids reaching SQL).
 * The fuzz (fuzz.test.ts) covers the space; these pin the named cases and the boundaries.
 */
import { ID_MAX_LENGTH, JSON_MAX_DEPTH, JSON_MAX_VALUES, UNIX_SECONDS_END } from '../../src/api/arguments';
import { toApiRun } from '../../src/api/mapping';
import type { ApiRunInput, CreateRunInput } from '../../src/api/types';
import { InvalidListQueryError, RunValidationError } from '../../src/errors';
import { apiRunV2, createInput, uid } from '../factories';
import { tableChecksums } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';
import { deepNest } from './hostile';

const db = useTestDatabase();

/** The error `promise` rejects with, checked to be a `cls` naming `field`, with a short message; and nothing written. */
async function refused<E extends RunValidationError | InvalidListQueryError>(
  promise: () => Promise<unknown>,
  cls: new (...args: never[]) => E,
  field: string,
): Promise<E> {
  const before = await tableChecksums(db);
  const error = await promise().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(cls);
  const named = error instanceof RunValidationError ? error.field : (error as InvalidListQueryError).parameter;
  expect(named).toBe(field);
  expect((error as Error).message.length).toBeLessThanOrEqual(300);
  expect(await tableChecksums(db)).toEqual(before);
  return error as E;
}
const invalid = (promise: () => Promise<unknown>, field: string) => refused(promise, RunValidationError, field);
const badQuery = (promise: () => Promise<unknown>, parameter: string) => refused(promise, InvalidListQueryError, parameter);

/** A string of exactly `units` UTF-16 units, astral characters included. */
const idOf = (units: number) => {
  const base = `run_😀é${uid('x')}`;
  return (base + 'x'.repeat(units)).slice(0, units);
};

describe('ids', () => {
  it(`an id of ${ID_MAX_LENGTH} UTF-16 units (astral characters counted as two) is stored and found; one more is refused everywhere`, async () => {
    const thread = `thread_${'😀'.repeat((ID_MAX_LENGTH - 7) / 2 - 1)}_x`.padEnd(ID_MAX_LENGTH, 'y');
    expect(thread.length).toBe(ID_MAX_LENGTH);
    const run = apiRunV2({ id: idOf(ID_MAX_LENGTH), thread_id: thread, assistant_id: idOf(ID_MAX_LENGTH), model: idOf(ID_MAX_LENGTH), status: 'completed', expires_at: null, completed_at: 1_716_000_100 });
    await db.runs().importRun(run);
    expect(toApiRun(await db.runs().getById(run.id))).toEqual(run);
    expect((await db.runs().listByThread(thread, { after: run.id })).data).toEqual([]);

    const long = idOf(ID_MAX_LENGTH + 1);
    await invalid(() => db.runs().importRun({ ...run, id: long }), 'id');
    await invalid(() => db.runs().importRun({ ...run, id: uid('run'), thread_id: long }), 'thread_id');
    await invalid(() => db.runs().create(createInput({ assistant_id: long })), 'assistant_id');
    await invalid(() => db.runs().create(createInput({ model: long })), 'model');
    expect((await db.runs().importRuns([{ ...run, id: long }]))[0]).toBeInstanceOf(RunValidationError);
    for (const method of ['start', 'cancel', 'confirmCancelled', 'findById', 'getById', 'history'] as const) await invalid(() => db.runs()[method](long), 'id');
    await invalid(() => db.runs().findActiveForThread(long), 'thread_id');
    await badQuery(() => db.runs().listByThread(long), 'thread_id');
    await badQuery(() => db.runs().listByAssistant(long), 'assistant_id');
    await badQuery(() => db.runs().listByThread(thread, { before: long }), 'before');
    await badQuery(() => db.runs().usageTotals({ assistant_id: long }), 'assistant_id');
    await invalid(() => db.runs().claimNext({ model: long }), 'options.model');
  });

  it('a 1 MB id is refused with a short message that quotes 40 characters of it', async () => {
    const huge = 'run_'.padEnd(1_000_000, 'z');
    const error = await invalid(() => db.runs().start(huge), 'id');
    expect(error.message).not.toContain('z'.repeat(41));
  });

  it('NUL and lone surrogates in an id, cursor or filter are refused before any SQL', async () => {
    for (const bad of ['run_\u0000', 'run_\ud800', 'run_\udc00x']) {
      await invalid(() => db.runs().findById(bad), 'id');
      await invalid(() => db.runs().cancel(bad), 'id');
      await badQuery(() => db.runs().listByStatus('queued', { after: bad }), 'after');
      await badQuery(() => db.runs().countByStatus({ thread_id: bad }), 'thread_id');
      await invalid(() => db.runs().claimNext({ assistant_id: bad }), 'options.assistant_id');
      await invalid(() => db.runs().submitToolOutputs(uid('run'), [{ tool_call_id: bad, output: '' }]), 'tool_outputs[0].tool_call_id');
    }
  });

  it('a non-string id never reaches SQL: cancel([id]) does not cancel that run, start(5) is no raw error', async () => {
    const run = await db.runs().create(createInput());
    await invalid(() => db.runs().cancel([run.id] as never), 'id');
    await invalid(() => db.runs().start(5 as never), 'id');
    await invalid(() => db.runs().start(new String(run.id) as never), 'id');
    await invalid(() => db.runs().findActiveForThread({ $ne: null } as never), 'thread_id');
    await invalid(() => db.runs().findActiveForThread(undefined as never), 'thread_id');
    expect((await db.runs().getById(run.id)).status).toBe('queued');
  });

  it('empty ids are refused where the store takes ids: create and importRun too', async () => {
    await invalid(() => db.runs().create(createInput({ thread_id: '' })), 'thread_id');
    await invalid(() => db.runs().importRun(apiRunV2({ model: '' })), 'model');
    await invalid(() => db.runs().requireAction(uid('run'), [{ id: '', type: 'function', function: { name: 'f', arguments: '{}' } }]), 'tool_calls[0].id');
  });
});

describe('options objects', () => {
  it('claimNext refuses a misspelt option instead of claiming anyone’s run, and option values that are no ids', async () => {
    const run = await db.runs().create(createInput({ assistant_id: uid('asst') }));
    await invalid(() => db.runs().claimNext({ asistant_id: run.assistantId } as never), 'options.asistant_id');
    await invalid(() => db.runs().claimNext({ assistant_id: 5 } as never), 'options.assistant_id');
    await invalid(() => db.runs().claimNext({ assistant_id: null } as never), 'options.assistant_id');
    await invalid(() => db.runs().claimNext(5 as never), 'options');
    await invalid(() => db.runs().claimNext([{ assistant_id: run.assistantId }] as never), 'options');
    await invalid(() => db.runs().claimNext(new Map() as never), 'options');
    expect((await db.runs().getById(run.id)).status).toBe('queued');
    // no options at all, `null` included, is "any run"; given ones filter
    expect((await db.runs().claimNext({ assistant_id: run.assistantId, model: 'other' }))).toBeNull();
    expect((await db.runs().claimNext(null))?.id).toBeDefined();
  });

  it('list queries and aggregate filters must be plain objects of known keys', async () => {
    await badQuery(() => db.runs().listByThread('t', [] as never), 'query');
    await badQuery(() => db.runs().listByThread('t', 'limit=5' as never), 'query');
    await badQuery(() => db.runs().listByThread('t', new Date() as never), 'query');
    await badQuery(() => db.runs().countByStatus(5 as never), 'filter');
    await badQuery(() => db.runs().usageTotals({ thread_id: 't', thread: 't' } as never), 'thread');
    await badQuery(() => db.runs().listByStatus('queued', { limit: 10n } as never), 'limit');
    await badQuery(() => db.runs().listByStatus(['queued', 7] as never), 'status');
  });
});

describe('times', () => {
  it('aggregate windows are unix seconds from 0 to the end of 9999, fractions allowed', async () => {
    await badQuery(() => db.runs().usageTotals({ created_after: 1e20 }), 'created_after');
    await badQuery(() => db.runs().usageTotals({ created_before: -1 }), 'created_before');
    await badQuery(() => db.runs().countByStatus({ created_after: UNIX_SECONDS_END + 0.5 }), 'created_after');
    await badQuery(() => db.runs().countByStatus({ created_before: Number.NaN }), 'created_before');
    expect((await db.runs().usageTotals({ created_after: 0, created_before: UNIX_SECONDS_END })).runs).toBeGreaterThanOrEqual(0);
    expect((await db.runs().countByStatus({ created_after: 0.5 })).queued).toBeGreaterThanOrEqual(0);
  });

  it('expireOverdue takes a real, valid Date from 1970 to 9999 only', async () => {
    for (const bad of [new Date(Number.NaN), new Date(-1), new Date(UNIX_SECONDS_END * 1000), new Date(8.64e15), new Date(-8.64e15), Date.now(), '2024-01-01', null, Object.create(Date.prototype), { getTime: () => 0 }]) {
      await invalid(() => db.runs().expireOverdue(bad as never), 'now');
    }
    expect(await db.runs().expireOverdue(new Date(0))).toBe(0);
    expect(typeof (await db.runs().expireOverdue(new Date(UNIX_SECONDS_END * 1000 - 1)))).toBe('number');
  });
});

describe('payloads', () => {
  it('updateMetadata(id, undefined) and a run without metadata are RunValidationErrors naming metadata', async () => {
    const run = await db.runs().create(createInput());
    await invalid(() => db.runs().updateMetadata(run.id, undefined as never), 'metadata');
    const { metadata: _omit, ...withoutMetadata } = apiRunV2();
    await invalid(() => db.runs().importRun(withoutMetadata as ApiRunInput), 'metadata');
    expect((await db.runs().importRuns([withoutMetadata as ApiRunInput]))[0]).toMatchObject({ field: 'metadata' });
    await invalid(() => db.runs().updateMetadata(run.id, 'k=v' as never), 'metadata');
  });

  const fn = (parameters: unknown) => ({ type: 'function' as const, function: { name: 'f', parameters: parameters as Record<string, unknown> } });
  const schemaFormat = (schema: unknown) => ({ type: 'json_schema' as const, json_schema: { name: 'n', schema: schema as Record<string, unknown> } });

  it('JSON nested 5,000 deep is a RunValidationError (no RangeError), in parameters, a JSON schema, metadata and an action', async () => {
    const deep = deepNest(5000, false);
    const deepArrays = deepNest(5000, true);
    // run (1) → tools (2) → [0] (3) → function (4) → parameters (5): the first object too deep is 60 below parameters
    const error = await invalid(() => db.runs().create(createInput({ tools: [fn(deep)] })), `tools[0].function.parameters${'.a'.repeat(JSON_MAX_DEPTH - 4)}`);
    expect(error.reason).toBe(`nests deeper than ${JSON_MAX_DEPTH} levels`);
    await invalid(() => db.runs().create(createInput({ tools: [fn({ a: deepArrays })] })), `tools[0].function.parameters.a${'[0]'.repeat(JSON_MAX_DEPTH - 5)}`);
    await invalid(() => db.runs().importRun(apiRunV2({ response_format: schemaFormat(deep) })), `response_format.json_schema.schema${'.a'.repeat(JSON_MAX_DEPTH - 3)}`);
    const run = await db.runs().create(createInput());
    await invalid(() => db.runs().updateMetadata(run.id, deep as never), `metadata${'.a'.repeat(JSON_MAX_DEPTH)}`);
    await invalid(() => db.runs().complete(run.id, deep as never), `usage${'.a'.repeat(JSON_MAX_DEPTH)}`);
  });

  it(`${JSON_MAX_DEPTH} levels from the argument are stored and come back; one more is refused`, async () => {
    // run (1) → tools (2) → [0] (3) → function (4) → parameters (5) … its innermost object at level 64
    const parameters = deepNest(JSON_MAX_DEPTH - 4, false, 'leaf') as Record<string, unknown>;
    const input: CreateRunInput = createInput({ tools: [fn(parameters)] });
    const run = await db.runs().create(input);
    expect(JSON.stringify((await db.runs().getById(run.id)).toJSON().tools)).toBe(JSON.stringify(input.tools));
    await invalid(() => db.runs().create(createInput({ tools: [fn({ a: parameters })] })), `tools[0].function.parameters${'.a'.repeat(JSON_MAX_DEPTH - 4)}`);
  });

  it('a cycle is refused; an object shared twice (no cycle) is taken', async () => {
    const cycle: Record<string, unknown> = { type: 'object' };
    cycle.properties = { self: cycle };
    await invalid(() => db.runs().create(createInput({ tools: [fn(cycle)] })), 'tools[0].function.parameters.properties.self');
    const shared = { type: 'string' };
    const run = await db.runs().create(createInput({ tools: [fn({ a: shared, b: shared })] }));
    expect((await db.runs().getById(run.id)).toJSON().tools).toEqual([fn({ a: shared, b: shared })]);
  });

  it(`more than ${JSON_MAX_VALUES.toLocaleString('en')} JSON values in one argument are refused before zod walks them`, async () => {
    const fileIds = new Array<string>(JSON_MAX_VALUES).fill('f');
    const error = await invalid(() => db.runs().create(createInput({ file_ids: fileIds })), '(input)');
    expect(error.reason).toContain('at most');
  });

  it('values JSON has no form for are refused by path, wherever they are', async () => {
    const run = await db.runs().create(createInput());
    await invalid(() => db.runs().create(createInput({ metadata: { when: new Date() as never } })), 'metadata.when');
    await invalid(() => db.runs().create(createInput({ temperature: 1n as never })), 'temperature');
    await invalid(() => db.runs().requireAction(run.id, [{ id: 'c', type: 'function', function: { name: 'f', arguments: Symbol('a') as never } }]), 'tool_calls[0].function.arguments');
    await invalid(() => db.runs().markIncomplete(run.id, new Date() as never), 'incomplete_details');
    await invalid(() => db.runs().fail(run.id, new (class {})() as never), 'last_error');
    // eslint-disable-next-line no-sparse-arrays
    await invalid(() => db.runs().submitToolOutputs(run.id, [, { tool_call_id: 'c', output: '' }] as never), 'tool_outputs[0]');
  });
});

describe('importRuns', () => {
  it('refuses what is neither an array of runs nor a batch prepareRunImport made (a look-alike could carry any SQL)', async () => {
    const forged = { prepared: true, results: [null], valid: [], ids: [], statement: { sql: 'delete from run_object', params: [] } };
    await invalid(() => db.runs().importRuns(forged as never), 'runs');
    await invalid(() => db.runs().importRuns(apiRunV2() as never), 'runs');
    await invalid(() => db.runs().importRuns(undefined as never), 'runs');
  });
});

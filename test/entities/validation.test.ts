/** Bad input raises RunValidationError naming the field and the reason, and writes nothing. */
import { RunValidationError } from '../../src/errors';
import type { ApiRunInput, CreateRunInput } from '../../src/api/types';
import { apiRunV1, apiRunV2, createInput } from '../factories';
import { countAllRows } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

beforeAll(async () => {
  // Something to keep: the counts must not move on a rejected write.
  await db.runs().importRun(apiRunV2({ tools: [{ type: 'code_interpreter' }], status: 'completed', expires_at: null, completed_at: 1_716_000_100 }));
});

async function expectRejected(write: () => Promise<unknown>, field: string | RegExp, reason?: RegExp): Promise<void> {
  const before = await countAllRows(db);
  const error = await write().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RunValidationError);
  const fields = (error as RunValidationError).issues.map((i) => i.field);
  if (typeof field === 'string') expect(fields).toContain(field);
  else expect(fields.some((f) => field.test(f))).toBe(true);
  if (reason) expect((error as RunValidationError).issues.map((i) => i.reason).join(' | ')).toMatch(reason);
  expect((error as Error).message).toContain('Invalid run input');
  expect(await countAllRows(db)).toEqual(before);
}

const metadataOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
const fn = (extra: object) => ({ type: 'function' as const, function: { name: 'f', ...extra } });

const badCreates: [string, Partial<CreateRunInput> | Record<string, unknown>, string | RegExp, RegExp?][] = [
  ['missing thread_id', { thread_id: undefined }, 'thread_id', /required/],
  ['assistant_id not a string', { assistant_id: 42 }, 'assistant_id', /string/],
  ['model null', { model: null }, 'model', /string/],
  ['an unknown key', { stream: true }, 'stream', /not a field/],
  ['17 metadata pairs', { metadata: metadataOf(17) }, 'metadata', /16/],
  // a caller's key in a field path is cut to 40 characters
  ['a 65-character metadata key', { metadata: { ['k'.repeat(65)]: 'v' } }, `metadata["${'k'.repeat(40)}…"]`, /64/],
  ['a 513-character metadata value', { metadata: { k: 'v'.repeat(513) } }, 'metadata.k', /512/],
  ['a metadata value that is a number', { metadata: { k: 1 } }, 'metadata.k', /string/],
  ['a metadata value under the key __proto__ that is a number', { metadata: JSON.parse('{"__proto__":1}') }, 'metadata.__proto__', /string/],
  ['16 metadata pairs plus one under __proto__', { metadata: { ...metadataOf(16), ...JSON.parse('{"__proto__":"v"}') } }, 'metadata', /16/],
  ['max_prompt_tokens below 256', { max_prompt_tokens: 255 }, 'max_prompt_tokens', /256/],
  ['max_completion_tokens not an integer', { max_completion_tokens: 300.5 }, 'max_completion_tokens'],
  ['max_completion_tokens beyond an int4', { max_completion_tokens: 2 ** 31 }, 'max_completion_tokens'],
  ['21 tools', { tools: Array.from({ length: 21 }, () => ({ type: 'code_interpreter' })) }, 'tools', /20/],
  ['an unknown tool type', { tools: [{ type: 'browser' }] }, 'tools[0].type'],
  ['a function without a name', { tools: [{ type: 'function', function: {} }] }, 'tools[0].function.name', /required/],
  ['a function tool without function', { tools: [{ type: 'function' }] }, 'tools[0].function', /required/],
  ['function parameters not an object', { tools: [fn({ parameters: [1] })] }, 'tools[0].function.parameters'],
  ['strict not a boolean', { tools: [fn({ strict: 'yes' })] }, 'tools[0].function.strict'],
  ['max_num_results 0', { tools: [{ type: 'file_search', file_search: { max_num_results: 0 } }] }, 'tools[0].file_search.max_num_results', /1/],
  ['max_num_results 51', { tools: [{ type: 'file_search', file_search: { max_num_results: 51 } }] }, 'tools[0].file_search.max_num_results', /50/],
  ['score_threshold above 1', { tools: [{ type: 'file_search', file_search: { ranking_options: { score_threshold: 1.5 } } }] }, 'tools[0].file_search.ranking_options.score_threshold'],
  ['ranking_options without score_threshold', { tools: [{ type: 'file_search', file_search: { ranking_options: { ranker: 'auto' } } }] }, 'tools[0].file_search.ranking_options.score_threshold'],
  ['an unknown ranker', { tools: [{ type: 'file_search', file_search: { ranking_options: { ranker: 'best', score_threshold: 0.5 } } }] }, 'tools[0].file_search.ranking_options.ranker'],
  ['last_messages 0', { truncation_strategy: { type: 'last_messages', last_messages: 0 } }, 'truncation_strategy.last_messages', /1/],
  ['an unknown truncation type', { truncation_strategy: { type: 'first' } }, 'truncation_strategy.type'],
  ['temperature above 2', { temperature: 2.5 }, 'temperature', /2/],
  ['top_p below 0', { top_p: -0.1 }, 'top_p', /0/],
  ['temperature NaN', { temperature: NaN }, 'temperature'],
  ['an unknown tool_choice string', { tool_choice: 'sometimes' }, 'tool_choice'],
  ['a named tool_choice of an unknown type', { tool_choice: { type: 'browser' } }, 'tool_choice.type'],
  ['a named function choice without a name', { tool_choice: { type: 'function', function: {} } }, 'tool_choice.function.name'],
  ['json_schema without a name', { response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format.json_schema.name'],
  ['json_schema without json_schema', { response_format: { type: 'json_schema' } }, 'response_format.json_schema', /required/],
  ['an unknown response_format', { response_format: { type: 'xml' } }, 'response_format.type', /not a known type/],
  ['parallel_tool_calls not a boolean', { parallel_tool_calls: 'true' }, 'parallel_tool_calls'],
  ['file_ids not strings', { file_ids: ['file-1', 2] }, 'file_ids[1]'],
  ['NUL in instructions', { instructions: 'a\u0000b' }, 'instructions', /NUL/],
  ['NUL deep in function parameters', { tools: [fn({ parameters: { properties: { a: { description: 'x\u0000' } } } })] }, 'tools[0].function.parameters.properties.a.description', /NUL/],
  ['NUL in a parameters key', { tools: [fn({ parameters: { 'a\u0000': 1 } })] }, /tools\[0\]\.function\.parameters/, /NUL/],
  ['a lone surrogate in a metadata value', { metadata: { k: '\ud800' } }, 'metadata.k', /surrogate/],
  ['a non-JSON value in parameters', { tools: [fn({ parameters: { when: new Date() } })] }, 'tools[0].function.parameters.when', /JSON/],
  ['Infinity in a JSON schema', { response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { maximum: Infinity } } } }, 'response_format.json_schema.schema.maximum', /finite/],
];

describe('create rejects', () => {
  // A loop, not it.each: rows without a reason would make jest pass `done` as the last argument.
  for (const [name, patch, field, reason] of badCreates) {
    it(name, async () => {
      await expectRejected(() => db.runs().create({ ...createInput(), ...patch } as CreateRunInput), field, reason);
    });
  }

  it('input that is not an object', async () => {
    for (const input of [null, 'run', [], 42]) {
      await expectRejected(() => db.runs().create(input as unknown as CreateRunInput), '(input)');
    }
  });
});

const badImports: [string, (run: ApiRunInput) => unknown, string, RegExp?][] = [
  ['object not thread.run', (r) => ({ ...r, object: 'thread.message' }), 'object'],
  ['an unknown status', (r) => ({ ...r, status: 'running' }), 'status'],
  ['created_at negative', (r) => ({ ...r, created_at: -1 }), 'created_at'],
  ['created_at fractional', (r) => ({ ...r, created_at: 1.5 }), 'created_at'],
  ['created_at beyond year 9999', (r) => ({ ...r, created_at: 1e13 }), 'created_at'],
  ['expires_at a string', (r) => ({ ...r, expires_at: '2024-01-01' }), 'expires_at'],
  ['a v2 object missing tool_choice', ({ tool_choice: _omit, ...r }) => r, 'tool_choice', /required/],
  ['a missing id', ({ id: _omit, ...r }) => r, 'id', /required/],
  ['required_action of another type', (r) => ({ ...r, required_action: { type: 'other', submit_tool_outputs: { tool_calls: [] } } }), 'required_action.type'],
  ['a tool call without arguments', (r) => ({ ...r, required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f' } }] } } }), 'required_action.submit_tool_outputs.tool_calls[0].function.arguments'],
  ['an unknown last_error code', (r) => ({ ...r, last_error: { code: 'oops', message: 'm' } }), 'last_error.code'],
  ['an unknown incomplete reason', (r) => ({ ...r, incomplete_details: { reason: 'tired' } }), 'incomplete_details.reason'],
  ['incomplete_details with reason null', (r) => ({ ...r, incomplete_details: { reason: null } }), 'incomplete_details.reason'],
  ['usage without total_tokens', (r) => ({ ...r, usage: { prompt_tokens: 1, completion_tokens: 1 } }), 'usage.total_tokens'],
  ['negative usage', (r) => ({ ...r, usage: { prompt_tokens: -1, completion_tokens: 1, total_tokens: 0 } }), 'usage.prompt_tokens'],
  ['instructions a number', (r) => ({ ...r, instructions: 7 }), 'instructions'],
  ['an unknown top-level key', (r) => ({ ...r, reasoning_effort: 'low' }), 'reasoning_effort', /not a field/],
  ['an unknown key inside a tool', (r) => ({ ...r, tools: [{ type: 'code_interpreter', extra: 1 }] }), 'tools[0].extra'],
  ['NUL in the id', (r) => ({ ...r, id: 'run_\u0000' }), 'id', /NUL/],
];

describe('importRun rejects', () => {
  for (const [name, mutate, field, reason] of badImports) {
    it(name, async () => {
      await expectRejected(() => db.runs().importRun(mutate(apiRunV2()) as ApiRunInput), field, reason);
    });
  }

  it('a v1 object with a file id that is not a string', async () => {
    await expectRejected(() => db.runs().importRun({ ...apiRunV1(), file_ids: [null] } as unknown as ApiRunInput), 'file_ids[0]');
  });

  it('a replacement that is invalid leaves the stored run as it was', async () => {
    const run = apiRunV2();
    await db.runs().importRun(run);
    await expectRejected(() => db.runs().importRun({ ...run, status: 'bogus' } as unknown as ApiRunInput), 'status');
    expect((await db.runs().getById(run.id)).toJSON()).toEqual(run);
  });

  it('lists every problem, not only the first', async () => {
    const error = await db.runs().importRun({ ...apiRunV2(), status: 'x', model: 1, metadata: { k: 2 } } as unknown as ApiRunInput).catch((e) => e);
    expect(error).toBeInstanceOf(RunValidationError);
    expect(error.issues.map((i: { field: string }) => i.field).sort()).toEqual(['metadata.k', 'model', 'status']);
  });
});

/** Every variant of every part survives importRun → getById unchanged, and JSON.stringify gives the same object. */
import { toApiRun } from '../../src/api/mapping';
import type { ApiRun, ApiRunInput, ApiTool, ApiToolChoice, ApiResponseFormat, RunStatus } from '../../src/api/types';
import { apiRunV1, apiRunV2 } from '../factories';
import { countAllRows } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

async function roundTrip(run: ApiRunInput): Promise<ApiRun> {
  await db.runs().importRun(run);
  const loaded = await db.runs().getById(run.id);
  const api = toApiRun(loaded);
  expect(JSON.parse(JSON.stringify(loaded))).toEqual(api);
  return api;
}

const tools: [string, ApiTool][] = [
  ['code_interpreter', { type: 'code_interpreter' }],
  ['retrieval (v1)', { type: 'retrieval' }],
  ['file_search without options', { type: 'file_search' }],
  ['file_search with an empty object', { type: 'file_search', file_search: {} }],
  ['file_search with every option', { type: 'file_search', file_search: { max_num_results: 50, ranking_options: { ranker: 'default_2024_08_21', score_threshold: 0.35 } } }],
  ['file_search with ranking options but no ranker', { type: 'file_search', file_search: { ranking_options: { score_threshold: 0 } } }],
  ['function with name only', { type: 'function', function: { name: 'get_weather' } }],
  [
    'function with description, nested parameters and strict',
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7.5 }, tags: { type: 'array', items: { enum: ['a', null, 1.25e-7] } } },
          required: ['city'],
          additionalProperties: false,
        },
        strict: true,
      },
    },
  ],
  ['function with strict null', { type: 'function', function: { name: 'f', strict: null } }],
  ['function with empty parameters', { type: 'function', function: { name: 'f', parameters: {}, strict: false } }],
];

describe('tools', () => {
  it.each(tools)('%s', async (_name, tool) => {
    const run = apiRunV2({ tools: [tool] });
    expect(await roundTrip(run)).toEqual(run);
  });

  it('twenty tools of every kind keep their order', async () => {
    const many = Array.from({ length: 20 }, (_, i) => tools[i % tools.length][1]);
    const run = apiRunV2({ tools: many });
    expect((await roundTrip(run)).tools).toEqual(many);
  });
});

const toolChoices: ApiToolChoice[] = [
  'none',
  'auto',
  'required',
  { type: 'function', function: { name: 'get_weather' } },
  { type: 'file_search' },
  { type: 'code_interpreter' },
  { type: 'function' },
];

describe('tool_choice', () => {
  it.each(toolChoices.map((c) => [JSON.stringify(c), c] as const))('%s', async (_name, choice) => {
    const run = apiRunV2({ tool_choice: choice });
    expect(await roundTrip(run)).toEqual(run);
  });
});

const responseFormats: ApiResponseFormat[] = [
  'auto',
  { type: 'text' },
  { type: 'json_object' },
  { type: 'json_schema', json_schema: { name: 'answer' } },
  {
    type: 'json_schema',
    json_schema: {
      name: 'answer',
      description: 'A nested schema',
      schema: {
        type: 'object',
        properties: { steps: { type: 'array', items: { type: 'object', properties: { explanation: { type: 'string' }, output: { type: 'number' } } } }, final: { type: ['string', 'null'] } },
        $defs: { deep: { anyOf: [{ $ref: '#/$defs/deep' }, { const: 0.1 }] } },
      },
      strict: true,
    },
  },
  { type: 'json_schema', json_schema: { name: 'n', strict: null } },
];

describe('response_format', () => {
  it.each(responseFormats.map((f) => [JSON.stringify(f).slice(0, 60), f] as const))('%s', async (_name, format) => {
    const run = apiRunV2({ response_format: format });
    expect(await roundTrip(run)).toEqual(run);
  });
});

describe('truncation_strategy', () => {
  it.each([
    { type: 'auto' as const },
    { type: 'auto' as const, last_messages: null },
    { type: 'last_messages' as const, last_messages: 1 },
    { type: 'last_messages' as const, last_messages: 2_147_483_647 },
    { type: 'last_messages' as const },
  ])('%j', async (truncation) => {
    const run = apiRunV2({ truncation_strategy: truncation });
    const back = await roundTrip(run);
    expect(back).toEqual(run);
    expect(Object.keys(back.truncation_strategy!)).toEqual(Object.keys(truncation));
  });
});

const toolCall = (i: number) => ({ id: `call_${i}`, type: 'function' as const, function: { name: `fn_${i}`, arguments: JSON.stringify({ i, text: 'ünïcödé ✓ 🚀' }) } });

/** Each status with the fields that go with it, as the API shows them. */
const statusRuns: [RunStatus, Partial<ApiRun>][] = [
  ['queued', {}],
  ['in_progress', { started_at: 1_716_000_010 }],
  [
    'requires_action',
    {
      started_at: 1_716_000_010,
      required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [toolCall(1), toolCall(2), toolCall(3)] } },
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    },
  ],
  ['cancelling', { started_at: 1_716_000_010 }],
  ['cancelled', { started_at: 1_716_000_010, cancelled_at: 1_716_000_020, expires_at: null }],
  [
    'failed',
    {
      started_at: 1_716_000_010,
      failed_at: 1_716_000_020,
      expires_at: null,
      last_error: { code: 'rate_limit_exceeded', message: 'You exceeded your current quota.' },
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    },
  ],
  ['completed', { started_at: 1_716_000_010, completed_at: 1_716_000_020, expires_at: null, usage: { prompt_tokens: 2_147_483_647, completion_tokens: 1, total_tokens: 2_147_483_647 } }],
  ['incomplete', { started_at: 1_716_000_010, completed_at: 1_716_000_020, expires_at: null, incomplete_details: { reason: 'max_completion_tokens' } }],
  ['incomplete', { started_at: 1_716_000_010, completed_at: 1_716_000_020, expires_at: null, incomplete_details: {} }],
  ['expired', { expires_at: 1_716_000_600 }],
];

describe('every status with its fields', () => {
  it.each(statusRuns)('%s %j', async (status, fields) => {
    const run = apiRunV2({ status, ...fields });
    expect(await roundTrip(run)).toEqual(run);
  });
});

describe('values at the edges', () => {
  it('every optional value null or empty', async () => {
    const run = apiRunV2({
      instructions: null,
      metadata: null,
      temperature: null,
      top_p: null,
      max_prompt_tokens: null,
      max_completion_tokens: null,
      truncation_strategy: null,
      tool_choice: null,
      response_format: null,
      usage: null,
      expires_at: null,
    });
    expect(await roundTrip(run)).toEqual(run);
  });

  it('null and {} metadata stay distinct, and 16 pairs at the limits are kept', async () => {
    const full = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`${i}`.padEnd(64, 'k'), 'v'.repeat(512)]));
    for (const metadata of [null, {}, full, { 'a.b': 'c', '': '', 'ключ': '值 🙂' }]) {
      const run = apiRunV2({ metadata });
      expect((await roundTrip(run)).metadata).toEqual(metadata);
    }
  });

  it('keys named __proto__, constructor or toString are kept as plain keys, in metadata and in JSON parts', async () => {
    // JSON.parse makes "__proto__" an own key; a copy by assignment would set the prototype instead.
    const metadata = JSON.parse('{"__proto__":"p","constructor":"c","toString":"t","hasOwnProperty":""}') as Record<string, string>;
    const parameters = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}},"__proto__":{"x":1}}') as Record<string, unknown>;
    const schema = JSON.parse('{"__proto__":null,"constructor":[1]}') as Record<string, unknown>;
    const run = apiRunV2({
      metadata,
      tools: [{ type: 'function', function: { name: 'f', parameters } }],
      response_format: { type: 'json_schema', json_schema: { name: 's', schema } },
    });
    const back = await roundTrip(run);
    // JSONB keeps keys, not their order.
    expect(Object.keys(back.metadata!).sort()).toEqual(Object.keys(metadata).sort());
    expect(Object.keys(back.tools[0].type === 'function' ? back.tools[0].function.parameters! : {}).sort()).toEqual(['__proto__', 'properties', 'type']);
    expect(back).toEqual(run);
  });

  it('temperature and top_p come back as the same numbers', async () => {
    for (const [temperature, top_p] of [[0.7, 0.1], [2, 0], [1e-9, 0.3333333333333333], [0.1 + 0.2, 1]]) {
      const run = apiRunV2({ temperature, top_p });
      const back = await roundTrip(run);
      expect(back.temperature).toBe(temperature);
      expect(back.top_p).toBe(top_p);
    }
  });

  it('times past 2038 and at the epoch', async () => {
    const run = apiRunV2({ created_at: 0, expires_at: 4_102_444_800, started_at: 2_147_483_648, completed_at: 253_402_300_799, status: 'completed' });
    expect(await roundTrip(run)).toEqual(run);
  });

  it('strings with quotes, backslashes, unicode and control characters other than NUL', async () => {
    const nasty = `'"\\ \n\t\u0001\u001f — 日本語 🚀 \u2028 ${'x'.repeat(10_000)}`;
    // (a model is an id: at most 256 UTF-16 units)
    const run = apiRunV2({ instructions: nasty, model: nasty.slice(0, 256), metadata: { k: "'\"\\\n\u0001" } });
    expect(await roundTrip(run)).toEqual(run);
  });

  it('a v1 run with every v1 field, tools with retrieval, and empty file_ids', async () => {
    const run = apiRunV1({ file_ids: [], tools: [{ type: 'retrieval' }, { type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] });
    const back = await roundTrip(run);
    expect(back.file_ids).toEqual([]);
    expect(back).toMatchObject(run);
  });

  it('a v1 run that also carries some newer keys keeps them', async () => {
    const run = apiRunV1({ usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }, temperature: 0.2, file_ids: Array.from({ length: 100 }, (_, i) => `file-${i}`) });
    const back = await roundTrip(run);
    expect(back).toMatchObject(run);
    expect(back.file_ids).toHaveLength(100);
  });
});

describe('importRun replaces a stored run of the same id', () => {
  it('the new object wins and the old parts leave no row behind', async () => {
    const first = apiRunV2({
      status: 'requires_action',
      required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [toolCall(1)] } },
      tools: [{ type: 'code_interpreter' }, { type: 'function', function: { name: 'f' } }],
    });
    await db.runs().importRun(first);
    const counts = await countAllRows(db);
    const second = { ...first, status: 'completed' as const, required_action: null, completed_at: 1_716_000_100, expires_at: null, tools: [{ type: 'retrieval' as const }] };
    const repo = db.runs();
    await repo.getById(first.id); // the caller's identity map holds the old one
    const replaced = await repo.importRun(second);
    expect(toApiRun(replaced)).toEqual(second);
    expect(toApiRun(await repo.getById(first.id))).toEqual(second);
    const after = await countAllRows(db);
    expect(after.run_object).toBe(counts.run_object);
    expect(after.run_required_action).toBe(counts.run_required_action - 1);
    expect(after.run_tool_call).toBe(counts.run_tool_call - 1);
    expect(after.run_tool).toBe(counts.run_tool - 1);
  });
});

/**
 * fast-check arbitraries of schema-valid run objects (both versions), as JSON from the API would
 * give them: valid, but reaching the hostile edges of valid text (every BMP character but NUL and
 * the surrogates, astral characters, line and paragraph separators, BOMs, noncharacters, quotes,
 * backslashes, SQL and JSON punctuation, empty strings).
 */
import fc from 'fast-check';
import { ID_MAX_LENGTH, unstorableStringReason } from '../../src/api/arguments';
import { RUN_STATUSES, type ApiRun, type ApiRunInput, type ApiTool, type CreateRunInput } from '../../src/api/types';

/** Any BMP character PostgreSQL can store: U+0001 … U+FFFF but the surrogates. */
const bmpChar = fc.integer({ min: 1, max: 0xffff - 0x800 }).map((n) => String.fromCharCode(n < 0xd800 ? n : n + 0x800));
const astralChar = fc.integer({ min: 0x10000, max: 0x10ffff }).map((n) => String.fromCodePoint(n));
/** Characters and sequences that break careless escaping, splitting, quoting or JSON-in-JS. */
export const HOSTILE_TOKENS = [
  '\u2028', '\u2029', '\ufeff', '\ufffe', '\uffff', '\u0085', '\u00a0', '\u200b', '\u200d', '\u0001', '\u001f', '\u007f',
  '\\', '"', "'", '`', '\n', '\r\n', '\t', '\\u0000', '\\x00', '%s', '$1', '$$', '?', ':1', '--', ';', '/*', '*/', '{}', '[]', 'null',
  '__proto__', 'constructor', '😀', '\u{10ffff}', '👨\u200d👩\u200d👧', 'e\u0301', '\ud7ff', '\ue000', '\u{1d11e}',
];
const piece = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary', maxLength: 3 }).filter((s) => unstorableStringReason(s) === null), weight: 3 },
  { arbitrary: bmpChar, weight: 3 },
  { arbitrary: astralChar, weight: 1 },
  { arbitrary: fc.constantFrom(...HOSTILE_TOKENS), weight: 2 },
);

/** Any text PostgreSQL can store (no NUL, no lone surrogate), empty included; up to `max` code points. */
export const text = (max = 12) =>
  fc.array(piece, { maxLength: max }).map((parts) => [...parts.join('')].slice(0, max).join(''));

/** An id as the store takes it: non-empty hostile text, at most `ID_MAX_LENGTH` UTF-16 units. */
export const idText = (max = 12) => text(max).filter((s) => s.length > 0 && s.length <= ID_MAX_LENGTH);

const storableJson = (value: unknown): boolean => {
  if (typeof value === 'string') return unstorableStringReason(value) === null;
  if (Array.isArray(value)) return value.every(storableJson);
  if (value && typeof value === 'object') return Object.entries(value).every(([k, v]) => unstorableStringReason(k) === null && storableJson(v));
  return true;
};

/** An open-ended JSON object (a function's parameters, a JSON schema). */
const jsonObject = fc
  .dictionary(text(8), fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), { maxKeys: 5 })
  .filter(storableJson);

const unix = fc.integer({ min: 0, max: 253_402_300_799 });
const nullableUnix = fc.option(unix, { nil: null });
const int4 = (min: number) => fc.integer({ min, max: 2_147_483_647 });
const maybeNull = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });

export const tool: fc.Arbitrary<ApiTool> = fc.oneof(
  fc.constant({ type: 'code_interpreter' as const }),
  fc.constant({ type: 'retrieval' as const }),
  fc.record(
    {
      type: fc.constant('file_search' as const),
      file_search: fc.record(
        {
          max_num_results: fc.integer({ min: 1, max: 50 }),
          ranking_options: fc.record(
            { ranker: fc.constantFrom('auto' as const, 'default_2024_08_21' as const), score_threshold: fc.double({ min: 0, max: 1, noNaN: true }) },
            { requiredKeys: ['score_threshold'] },
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['type'] },
  ),
  fc.record({
    type: fc.constant('function' as const),
    function: fc.record(
      { name: text(), description: text(40), parameters: jsonObject, strict: maybeNull(fc.boolean()) },
      { requiredKeys: ['name'] },
    ),
  }),
);

export const toolCall = fc.record({ id: idText(), type: fc.constant('function' as const), function: fc.record({ name: text(), arguments: text(60) }) });

export const metadataObject = fc.dictionary(text(64), text(512), { maxKeys: 16 });
const metadata = maybeNull(metadataObject);

export const lastError = fc.record({ code: fc.constantFrom('server_error' as const, 'rate_limit_exceeded' as const, 'invalid_prompt' as const), message: text(40) });

export const usage = fc.record({ prompt_tokens: int4(0), completion_tokens: int4(0), total_tokens: int4(0) });

export const toolChoice = fc.oneof(
  fc.constantFrom('none' as const, 'auto' as const, 'required' as const),
  fc.record(
    { type: fc.constantFrom('function' as const, 'code_interpreter' as const, 'file_search' as const), function: fc.record({ name: text() }) },
    { requiredKeys: ['type'] },
  ),
);

export const responseFormat = fc.oneof(
  fc.constant('auto' as const),
  fc.constant({ type: 'text' as const }),
  fc.constant({ type: 'json_object' as const }),
  fc.record({
    type: fc.constant('json_schema' as const),
    json_schema: fc.record({ name: text(), description: text(), schema: jsonObject, strict: maybeNull(fc.boolean()) }, { requiredKeys: ['name'] }),
  }),
);

export const truncation = fc.record(
  { type: fc.constantFrom('auto' as const, 'last_messages' as const), last_messages: maybeNull(int4(1)) },
  { requiredKeys: ['type'] },
);

/** The keys both versions have. */
const common = {
  id: idText(30),
  object: fc.constant('thread.run' as const),
  created_at: unix,
  thread_id: idText(),
  assistant_id: idText(),
  status: fc.constantFrom(...RUN_STATUSES),
  required_action: maybeNull(fc.record({ type: fc.constant('submit_tool_outputs' as const), submit_tool_outputs: fc.record({ tool_calls: fc.array(toolCall, { maxLength: 4 }) }) })),
  last_error: maybeNull(lastError),
  expires_at: nullableUnix,
  started_at: nullableUnix,
  cancelled_at: nullableUnix,
  failed_at: nullableUnix,
  completed_at: nullableUnix,
  model: idText(),
  instructions: maybeNull(text(80)),
  tools: fc.array(tool, { maxLength: 20 }),
  metadata,
};

/** The keys of the newer object (required on v2, optional on v1). */
const newer = {
  incomplete_details: maybeNull(fc.record({ reason: fc.constantFrom('max_completion_tokens' as const, 'max_prompt_tokens' as const) }, { requiredKeys: [] })),
  usage: maybeNull(usage),
  max_prompt_tokens: maybeNull(int4(256)),
  max_completion_tokens: maybeNull(int4(256)),
  truncation_strategy: maybeNull(truncation),
  tool_choice: maybeNull(toolChoice),
  parallel_tool_calls: fc.boolean(),
  response_format: maybeNull(responseFormat),
};

const sampling = {
  temperature: maybeNull(fc.double({ noNaN: true, noDefaultInfinity: true })),
  top_p: maybeNull(fc.double({ noNaN: true, noDefaultInfinity: true })),
};

/** As JSON gives it: -0 becomes 0, which is what any API object carries. */
const asJson = <T>(value: T): T => JSON.parse(JSON.stringify(value));

export const apiRunV2: fc.Arbitrary<ApiRun> = fc
  .record({ ...common, ...newer, ...sampling }, { requiredKeys: [...Object.keys(common), ...Object.keys(newer)] as never })
  .map(asJson) as fc.Arbitrary<ApiRun>;

export const apiRunV1: fc.Arbitrary<ApiRunInput> = fc
  .record(
    { ...common, file_ids: fc.array(text(), { maxLength: 20 }), ...newer, ...sampling },
    { requiredKeys: [...Object.keys(common), 'file_ids'] as never },
  )
  .map(asJson) as fc.Arbitrary<ApiRunInput>;

/** What a service passes to `create`: any valid combination of its optional fields. */
export const createRunInput: fc.Arbitrary<CreateRunInput> = fc
  .record(
    {
      thread_id: idText(),
      assistant_id: idText(),
      model: idText(),
      instructions: maybeNull(text(80)),
      tools: fc.array(tool, { maxLength: 20 }),
      file_ids: fc.array(text(), { maxLength: 5 }),
      metadata: metadataObject,
      temperature: maybeNull(fc.double({ min: 0, max: 2, noNaN: true })),
      top_p: maybeNull(fc.double({ min: 0, max: 1, noNaN: true })),
      max_prompt_tokens: maybeNull(int4(256)),
      max_completion_tokens: maybeNull(int4(256)),
      truncation_strategy: maybeNull(truncation),
      tool_choice: maybeNull(toolChoice),
      response_format: maybeNull(responseFormat),
      parallel_tool_calls: fc.boolean(),
    },
    { requiredKeys: ['thread_id', 'assistant_id', 'model'] },
  )
  .map(asJson) as fc.Arbitrary<CreateRunInput>;

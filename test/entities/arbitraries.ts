/** fast-check arbitraries of schema-valid run objects (both versions), as JSON from the API would give them. */
import fc from 'fast-check';
import { unstorableStringReason } from '../../src/api/schema';
import { RUN_STATUSES, type ApiRun, type ApiRunInput, type ApiTool } from '../../src/api/types';

/** Any Unicode text PostgreSQL can store (no NUL); up to `max` code points. */
export const text = (max = 12) => fc.string({ unit: 'binary', maxLength: max }).filter((s) => unstorableStringReason(s) === null);

const storableJson = (value: unknown): boolean => {
  if (typeof value === 'string') return unstorableStringReason(value) === null;
  if (Array.isArray(value)) return value.every(storableJson);
  if (value && typeof value === 'object') return Object.entries(value).every(([k, v]) => unstorableStringReason(k) === null && storableJson(v));
  return true;
};

/** An open-ended JSON object (a function's parameters, a JSON schema). */
const jsonObject = fc
  .dictionary(text(8), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })
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

const toolCall = fc.record({ id: text(), type: fc.constant('function' as const), function: fc.record({ name: text(), arguments: text(60) }) });

const metadata = maybeNull(fc.dictionary(text(64), text(512), { maxKeys: 16 }));

const usage = fc.record({ prompt_tokens: int4(0), completion_tokens: int4(0), total_tokens: int4(0) });

const toolChoice = fc.oneof(
  fc.constantFrom('none' as const, 'auto' as const, 'required' as const),
  fc.record(
    { type: fc.constantFrom('function' as const, 'code_interpreter' as const, 'file_search' as const), function: fc.record({ name: text() }) },
    { requiredKeys: ['type'] },
  ),
);

const responseFormat = fc.oneof(
  fc.constant('auto' as const),
  fc.constant({ type: 'text' as const }),
  fc.constant({ type: 'json_object' as const }),
  fc.record({
    type: fc.constant('json_schema' as const),
    json_schema: fc.record({ name: text(), description: text(), schema: jsonObject, strict: maybeNull(fc.boolean()) }, { requiredKeys: ['name'] }),
  }),
);

const truncation = fc.record(
  { type: fc.constantFrom('auto' as const, 'last_messages' as const), last_messages: maybeNull(int4(1)) },
  { requiredKeys: ['type'] },
);

/** The keys both versions have. */
const common = {
  id: text(30).filter((s) => s.length > 0),
  object: fc.constant('thread.run' as const),
  created_at: unix,
  thread_id: text(),
  assistant_id: text(),
  status: fc.constantFrom(...RUN_STATUSES),
  required_action: maybeNull(fc.record({ type: fc.constant('submit_tool_outputs' as const), submit_tool_outputs: fc.record({ tool_calls: fc.array(toolCall, { maxLength: 4 }) }) })),
  last_error: maybeNull(fc.record({ code: fc.constantFrom('server_error' as const, 'rate_limit_exceeded' as const, 'invalid_prompt' as const), message: text(40) })),
  expires_at: nullableUnix,
  started_at: nullableUnix,
  cancelled_at: nullableUnix,
  failed_at: nullableUnix,
  completed_at: nullableUnix,
  model: text(),
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

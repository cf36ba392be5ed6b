/** Data factories: API objects as the Assistants API gives them, for both versions of the run. */
import { randomBytes } from 'node:crypto';
import type { ApiRun, ApiRunInput, CreateRunInput } from '../src/api/types';

export const uid = (prefix: string): string => `${prefix}_${randomBytes(9).toString('base64url')}`;

/** A v2 run object (no `file_ids`), queued, with every key present. */
export function apiRunV2(overrides: Partial<ApiRun> = {}): ApiRun {
  return {
    id: uid('run'),
    object: 'thread.run',
    created_at: 1_716_000_000,
    thread_id: uid('thread'),
    assistant_id: uid('asst'),
    status: 'queued',
    required_action: null,
    last_error: null,
    expires_at: 1_716_000_600,
    started_at: null,
    cancelled_at: null,
    failed_at: null,
    completed_at: null,
    incomplete_details: null,
    model: 'gpt-4o',
    instructions: 'You are a helpful assistant.',
    tools: [],
    metadata: {},
    usage: null,
    temperature: 1,
    top_p: 1,
    max_prompt_tokens: 1000,
    max_completion_tokens: 1000,
    truncation_strategy: { type: 'auto', last_messages: null },
    tool_choice: 'auto',
    parallel_tool_calls: true,
    response_format: 'auto',
    ...overrides,
  };
}

/** A v1 run object (with `file_ids`, the `retrieval` tool, none of the newer keys), completed. */
export function apiRunV1(overrides: Partial<ApiRunInput> = {}): ApiRunInput {
  return {
    id: uid('run'),
    object: 'thread.run',
    created_at: 1_699_063_290,
    assistant_id: uid('asst'),
    thread_id: uid('thread'),
    status: 'completed',
    started_at: 1_699_063_291,
    expires_at: null,
    cancelled_at: null,
    failed_at: null,
    completed_at: 1_699_063_300,
    last_error: null,
    model: 'gpt-4-1106-preview',
    instructions: null,
    tools: [{ type: 'retrieval' }, { type: 'code_interpreter' }],
    file_ids: ['file-abc123', 'file-abc456'],
    metadata: {},
    required_action: null,
    ...overrides,
  };
}

/** A pending function tool call of a required action. */
export const toolCall = (i: number, args = '{}') => ({ id: `call_${i}`, type: 'function' as const, function: { name: 'f', arguments: args } });

/** A run with every part present: all seven to-ones, tools, file ids and tool calls (v1, requires_action). */
export function apiRunWithEveryPart(overrides: Partial<ApiRunInput> = {}): ApiRunInput {
  return apiRunV1({
    status: 'requires_action',
    completed_at: null,
    required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [toolCall(1), toolCall(2)] } },
    last_error: { code: 'server_error', message: 'earlier failure' },
    incomplete_details: { reason: 'max_prompt_tokens' },
    usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    truncation_strategy: { type: 'last_messages', last_messages: 5 },
    tool_choice: { type: 'function', function: { name: 'f' } },
    response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object' } } },
    tools: [{ type: 'code_interpreter' }, { type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    file_ids: ['file-1', 'file-2', 'file-3'],
    ...overrides,
  });
}

/**
 * What the store gives back for an imported object: every key it had, and the keys it lacked
 * (a v1 object lacks the newer ones; temperature/top_p are optional) as null, parallel_tool_calls as true.
 */
export function asStored(run: ApiRunInput): ApiRun {
  return {
    incomplete_details: null,
    usage: null,
    temperature: null,
    top_p: null,
    max_prompt_tokens: null,
    max_completion_tokens: null,
    truncation_strategy: null,
    tool_choice: null,
    parallel_tool_calls: true,
    response_format: null,
    ...run,
  };
}

/** What a service passes to `create`. */
export function createInput(overrides: Partial<CreateRunInput> = {}): CreateRunInput {
  return { thread_id: uid('thread'), assistant_id: uid('asst'), model: 'gpt-4o', ...overrides };
}

/**
 * The JSON text the store must give back for an imported object: `asStored(run)` with its keys in
 * the API's order (the official RunObject schema's, `file_ids` last, as `toApiRun` writes them) and
 * every nested object exactly as given. `JSON.stringify(toApiRun(stored))` must equal it.
 */
export function asStoredText(run: ApiRunInput): string {
  const stored = asStored(run) as ApiRun & { file_ids?: string[] };
  const keys = [...Object.keys(apiRunV2()), ...(stored.file_ids !== undefined ? ['file_ids'] : [])];
  return JSON.stringify(Object.fromEntries(keys.map((key) => [key, stored[key as keyof typeof stored]])));
}

/**
 * Open-ended parts whose keys are NOT in `jsonb`'s order, at every depth: a function's
 * `parameters`, a `json_schema` and metadata (`jsonb` would sort them). The fixed-shape objects
 * (`{name, description, parameters, strict}`, `file_search` options, …) are in the order validation
 * gives them.
 */
export function unsortedParts(): Pick<ApiRun, 'tools' | 'metadata' | 'response_format'> {
  return {
    tools: [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather at a place',
          parameters: {
            type: 'object',
            properties: { unit: { type: 'string', enum: ['f', 'c'] }, city: { type: 'string', description: 'city name' } },
            required: ['unit', 'city'],
            additionalProperties: false,
          },
          strict: true,
        },
      },
      { type: 'file_search', file_search: { max_num_results: 7, ranking_options: { ranker: 'auto', score_threshold: 0.25 } } },
    ],
    metadata: { zone: 'eu', b: '2', a: '1', Äpfel: 'x' },
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'answer',
        description: 'the reply',
        schema: {
          type: 'object',
          properties: { zeta: { type: 'string', minLength: 1 }, alpha: { type: 'number' }, mid: { type: 'object', properties: { y: { type: 'null' }, x: { type: 'integer' } } } },
          required: ['zeta', 'alpha', 'mid'],
          additionalProperties: false,
        },
        strict: true,
      },
    },
  };
}

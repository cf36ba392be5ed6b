/** The runs the benchmark writes: one create input with every part, and API objects to import. */
import { randomBytes } from 'node:crypto';
import type { ApiRunInput, ApiToolCall, CreateRunInput } from '../src/api/types';

export const uid = (prefix: string): string => `${prefix}_${randomBytes(9).toString('base64url')}`;

const WEATHER_FUNCTION = {
  name: 'get_weather',
  description: 'The current weather at a location.',
  parameters: {
    type: 'object',
    properties: {
      location: { type: 'string', description: 'City and country, e.g. Paris, France' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    },
    required: ['location'],
  },
  strict: false,
};

/** Case 1's input: 3 tools (one a function with parameters), 2 file ids, truncation, tool choice, a json_schema response format, metadata. */
export function fullCreateInput(threadId: string, assistantId: string): CreateRunInput {
  return {
    thread_id: threadId,
    assistant_id: assistantId,
    model: 'gpt-4o',
    instructions: 'You are a weather bot. Answer in one sentence.',
    tools: [
      { type: 'code_interpreter' },
      { type: 'file_search', file_search: { max_num_results: 20 } },
      { type: 'function', function: WEATHER_FUNCTION },
    ],
    file_ids: ['file-abc123', 'file-def456'],
    metadata: { user_id: 'user_42', purpose: 'benchmark' },
    temperature: 0.7,
    top_p: 0.9,
    max_prompt_tokens: 2000,
    max_completion_tokens: 1000,
    truncation_strategy: { type: 'last_messages', last_messages: 10 },
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'weather', strict: true, schema: { type: 'object', properties: { summary: { type: 'string' }, celsius: { type: 'number' } }, required: ['summary'] } },
    },
    parallel_tool_calls: false,
  } as CreateRunInput;
}

export const TOOL_CALLS: ApiToolCall[] = [
  { id: 'call_weather_paris', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France"}' } },
  { id: 'call_weather_oslo', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Oslo, Norway","unit":"celsius"}' } },
];

export const USAGE = { prompt_tokens: 812, completion_tokens: 97, total_tokens: 909 };

/**
 * A stored run with every kind of part (the read cases): the create input's parts, plus a pending
 * required action with 2 tool calls and usage.
 */
export function fullApiRun(id: string, threadId: string, assistantId: string, createdAt: number): ApiRunInput {
  const input = fullCreateInput(threadId, assistantId);
  return {
    id, object: 'thread.run', created_at: createdAt, thread_id: threadId, assistant_id: assistantId, status: 'requires_action',
    required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: TOOL_CALLS } },
    last_error: null, expires_at: createdAt + 600, started_at: createdAt + 1, cancelled_at: null, failed_at: null, completed_at: null,
    incomplete_details: null, model: input.model, instructions: input.instructions!, tools: input.tools!, file_ids: input.file_ids,
    metadata: input.metadata!, usage: USAGE, temperature: input.temperature, top_p: input.top_p, max_prompt_tokens: input.max_prompt_tokens,
    max_completion_tokens: input.max_completion_tokens, truncation_strategy: input.truncation_strategy, tool_choice: input.tool_choice,
    parallel_tool_calls: false, response_format: input.response_format,
  } as ApiRunInput;
}

/** Case 6's import lines: completed v2 runs with 3 tools, truncation, tool choice, response format, usage. */
export function importApiRun(n: number, prefix: string): ApiRunInput {
  const created = 1_716_000_000 + n;
  const input = fullCreateInput(`thread_${prefix}_${n % 10_000}`, `asst_${prefix}_${n % 50}`);
  return {
    id: `run_${prefix}_${n}`, object: 'thread.run', created_at: created, thread_id: input.thread_id, assistant_id: input.assistant_id,
    status: 'completed', required_action: null, last_error: null, expires_at: null, started_at: created + 1, cancelled_at: null,
    failed_at: null, completed_at: created + 9, incomplete_details: null, model: input.model, instructions: input.instructions!,
    tools: input.tools!, metadata: { n: String(n) }, usage: USAGE, temperature: input.temperature, top_p: input.top_p,
    max_prompt_tokens: input.max_prompt_tokens, max_completion_tokens: input.max_completion_tokens,
    truncation_strategy: input.truncation_strategy, tool_choice: input.tool_choice, parallel_tool_calls: true,
    response_format: input.response_format,
  } as ApiRunInput;
}

/** A queued run for the claim case (distinct threads: the thread lock allows one active run per thread). */
export function queuedApiRun(n: number, assistantId: string, createdAt: number): ApiRunInput {
  const run = importApiRun(n, assistantId);
  return {
    ...run, id: `run_${assistantId}_${n}`, thread_id: `thread_${assistantId}_${n}`, assistant_id: assistantId, status: 'queued', created_at: createdAt,
    expires_at: createdAt + 86_400, started_at: null, completed_at: null, usage: null,
  };
}

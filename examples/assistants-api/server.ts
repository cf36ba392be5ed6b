/**
 * A reference server for the runs endpoints of the Assistants API, on Node's own `http` module and
 * the package's public exports only (`../../src`, the package root: in a service,
 * `'assistants-run-store'`). The official `openai` SDK talks to it with
 * `new OpenAI({ baseURL: 'http://127.0.0.1:<port>/v1' })`.
 *
 *   POST /v1/threads/{thread_id}/runs                                 create
 *   GET  /v1/threads/{thread_id}/runs                                 list (limit, order, after, before)
 *   GET  /v1/threads/{thread_id}/runs/{run_id}                        retrieve
 *   POST /v1/threads/{thread_id}/runs/{run_id}                        modify (metadata)
 *   POST /v1/threads/{thread_id}/runs/{run_id}/cancel                 cancel
 *   POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs    submit tool outputs
 *
 * No authentication, no streaming, no assistants or messages: runs only. A run's thread is its
 * scope — a run asked for under another thread is not found (`getForThread`).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import {
  ACTIVE_STATUSES,
  parseRunListQuery,
  RunObject,
  RunValidationError,
  toHttpError,
  type CreateRunInput,
  type RunRepository,
} from '../../src';

export interface AssistantsApiOptions {
  orm: MikroORM;
  /** The model of a run created without one (the API takes the assistant's; this server keeps no assistants). Default `gpt-4o`. */
  defaultModel?: string;
  /** `openai-poll-after-ms` on a run that is still moving: how long the SDK's `…AndPoll` helpers wait between polls. Default 500. */
  pollAfterMs?: number;
  /** The largest request body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Every failure that is not the request's fault (answered with a 5xx), for the service's log. */
  onServerError?: (error: unknown) => void;
}

/** The server's own answers that are no package error (a wrong URL, a body that is no JSON object). */
class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;
type Handler = (runs: RunRepository, params: { threadId: string; runId: string }, body: () => Promise<Json>, url: URL) => Promise<unknown>;

const unrecognized = (key: string) => RunValidationError.of(key, 'is not a field of this object');

function noStreaming(body: Json): void {
  if (body.stream !== undefined && body.stream !== null && body.stream !== false) throw RunValidationError.of('stream', 'must be false: this server does not stream');
}

/** The create request's body as the store's `create` input. */
function createInput(threadId: string, body: Json, defaultModel: string): CreateRunInput {
  // Keys of the API's request that this server answers itself rather than store.
  const { stream: _stream, additional_instructions, additional_messages, reasoning_effort, ...rest } = body;
  noStreaming(body);
  if (additional_messages !== undefined && additional_messages !== null && !(Array.isArray(additional_messages) && additional_messages.length === 0)) {
    throw RunValidationError.of('additional_messages', 'is not supported: this server keeps no messages');
  }
  if (reasoning_effort !== undefined && reasoning_effort !== null) throw RunValidationError.of('reasoning_effort', 'is not supported by this server');
  if ('thread_id' in rest) throw unrecognized('thread_id'); // the thread is the path's
  if (additional_instructions !== undefined && additional_instructions !== null && typeof additional_instructions !== 'string') {
    throw RunValidationError.of('additional_instructions', 'must be a string');
  }
  // The API fills what the request leaves out from the assistant; with no assistants, the defaults stand in.
  let instructions = rest.instructions ?? '';
  if (typeof instructions === 'string' && additional_instructions) instructions = instructions ? `${instructions}\n\n${additional_instructions}` : additional_instructions;
  // Everything else goes to `create` as it came: the store validates it (and refuses unknown keys).
  return { ...rest, instructions, model: rest.model ?? defaultModel, thread_id: threadId } as CreateRunInput;
}

/** The body's keys, each of which must be one of `allowed`. */
function only(body: Json, allowed: readonly string[]): Json {
  for (const key of Object.keys(body)) if (!allowed.includes(key)) throw unrecognized(key);
  return body;
}

function routes(defaultModel: string): { method: string; path: RegExp; handle: Handler }[] {
  return [
    {
      method: 'POST',
      path: /^\/v1\/threads\/([^/]+)\/runs$/,
      handle: async (runs, { threadId }, body) => runs.create(createInput(threadId, await body(), defaultModel)),
    },
    {
      method: 'GET',
      path: /^\/v1\/threads\/([^/]+)\/runs$/,
      handle: async (runs, { threadId }, _body, url) => runs.listByThread(threadId, parseRunListQuery(url.searchParams)),
    },
    {
      method: 'GET',
      path: /^\/v1\/threads\/([^/]+)\/runs\/([^/]+)$/,
      handle: (runs, { threadId, runId }) => runs.getForThread(threadId, runId),
    },
    {
      method: 'POST',
      path: /^\/v1\/threads\/([^/]+)\/runs\/([^/]+)$/,
      handle: async (runs, { threadId, runId }, body) => {
        const { metadata } = only(await body(), ['metadata']);
        const run = await runs.getForThread(threadId, runId);
        // A run's thread never changes, so the check above still holds for the write below.
        return metadata === undefined ? run : runs.updateMetadata(run.id, metadata as Record<string, string> | null);
      },
    },
    {
      method: 'POST',
      path: /^\/v1\/threads\/([^/]+)\/runs\/([^/]+)\/cancel$/,
      handle: async (runs, { threadId, runId }) => runs.cancel((await runs.getForThread(threadId, runId)).id),
    },
    {
      method: 'POST',
      path: /^\/v1\/threads\/([^/]+)\/runs\/([^/]+)\/submit_tool_outputs$/,
      handle: async (runs, { threadId, runId }, body) => {
        const request = only(await body(), ['tool_outputs', 'stream']);
        noStreaming(request);
        const run = await runs.getForThread(threadId, runId);
        return runs.submitToolOutputs(run.id, request.tool_outputs as never);
      },
    },
  ];
}

/** The request's body, parsed: a JSON object (an empty body is `{}`). */
async function readJson(req: IncomingMessage, maxBytes: number): Promise<Json> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new RequestError(413, `The request body is larger than ${maxBytes} bytes.`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RequestError(400, 'We could not parse the JSON body of your request. The API expects a JSON payload.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new RequestError(400, 'The body of the request must be a JSON object.');
  return parsed as Json;
}

const ACTIVE = new Set<string>(ACTIVE_STATUSES);

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'x-request-id': `req_${randomUUID().replace(/-/g, '')}`, ...headers });
  res.end(text);
}

/** The request handler, for `http.createServer` or any framework that hands over Node's request and response. */
export function assistantsApiHandler(options: AssistantsApiOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const table = routes(options.defaultModel ?? 'gpt-4o');
  const pollAfterMs = String(options.pollAfterMs ?? 500);
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      const route = table.map((r) => ({ r, m: req.method === r.method ? r.path.exec(url.pathname) : null })).find((x) => x.m !== null);
      if (!route) throw new RequestError(404, `Invalid URL (${req.method} ${url.pathname})`);
      let params: { threadId: string; runId: string };
      try {
        params = { threadId: decodeURIComponent(route.m![1]), runId: decodeURIComponent(route.m![2] ?? '') };
      } catch {
        throw new RequestError(404, `Invalid URL (${req.method} ${url.pathname})`);
      }
      // One unit of work per request.
      const runs = options.orm.em.fork().getRepository(RunObject);
      const result = await route.r.handle(runs, params, () => readJson(req, maxBodyBytes), url);
      const moving = result instanceof RunObject && ACTIVE.has(result.status) && result.status !== 'requires_action';
      send(res, 200, result, moving ? { 'openai-poll-after-ms': pollAfterMs } : {});
    } catch (error) {
      if (error instanceof RequestError) {
        send(res, error.status, { error: { message: error.message, type: 'invalid_request_error', param: null, code: null } });
        return;
      }
      const answer = toHttpError(error);
      if (answer.status >= 500) options.onServerError?.(error);
      send(res, answer.status, answer.body, answer.headers);
    }
  };
}

/** The server (not yet listening): `createAssistantsApiServer({ orm }).listen(8080)`. */
export function createAssistantsApiServer(options: AssistantsApiOptions): Server {
  const handle = assistantsApiHandler(options);
  return createServer((req, res) => void handle(req, res));
}

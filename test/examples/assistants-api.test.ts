/**
 * examples/assistants-api: the reference server and its demo worker, driven by the official
 * `openai` SDK as a client (`baseURL: http://127.0.0.1:<port>/v1`), on this file's own database.
 * Every answer is checked against what the store holds; every error against the SDK class it
 * raises. Real PostgreSQL, real HTTP.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import OpenAI, { APIError, BadRequestError, NotFoundError } from 'openai';
import type { Run } from 'openai/resources/beta/threads/runs/runs';
import { toApiRun } from '../../src';
import { createAssistantsApiServer } from '../../examples/assistants-api/server';
import { DemoWorker, demoUsage } from '../../examples/assistants-api/worker';
import { uid } from '../factories';
import { rejectionOf } from '../support/rejection';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();
const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'assistants-api');
const POLL_AFTER_MS = 20;

let server: Server;
let client: OpenAI;
let worker: DemoWorker;
const serverErrors: unknown[] = [];
const workerErrors: unknown[] = [];
const consoleCalls: unknown[][] = [];

beforeAll(async () => {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void consoleCalls.push([method, ...args]));
  }
  server = createAssistantsApiServer({ orm: db.orm, pollAfterMs: POLL_AFTER_MS, onServerError: (e) => serverErrors.push(e) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // No retries: each call is one request, so every answer is seen as the server gave it.
  client = new OpenAI({ apiKey: 'test-key', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  worker = new DemoWorker({ orm: db.orm, intervalMs: 10, onError: (e) => workerErrors.push(e) });
});

afterEach(() => {
  expect(serverErrors).toEqual([]);
  expect(workerErrors).toEqual([]);
});

afterAll(async () => {
  await worker.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  jest.restoreAllMocks();
  // Neither the SDK, the server, the worker nor the library printed anything.
  expect(consoleCalls).toEqual([]);
});

/** The SDK's runs resource (`runs.api.create(…)` reads as the SDK call it is). */
const runs = {
  get api() {
    return client.beta.threads.runs;
  },
};

/** What the store holds for `id`, as the API object. */
const stored = async (id: string) => toApiRun(await db.runs().getById(id));

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, APIError);

/** `count` finished (cancelled) runs on `threadId`, made through the SDK; their ids. */
async function finishedRuns(threadId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const run = await runs.api.create(threadId, { assistant_id: 'asst_pages', metadata: { i: String(i) } });
    await runs.api.cancel(run.id, { thread_id: threadId });
    ids.push(run.id);
  }
  return ids;
}

describe('with the worker stopped (runs stay where the client puts them)', () => {
  it('create: the thread from the path, the body as sent, the store holding exactly what was answered', async () => {
    const threadId = uid('thread');
    const run = await runs.api.create(threadId, {
      assistant_id: 'asst_abc',
      model: 'gpt-4o-mini',
      instructions: 'Be brief.',
      additional_instructions: 'Answer in French.',
      tools: [{ type: 'code_interpreter' }, { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }],
      metadata: { user: 'u_1' },
      temperature: 0.5,
      top_p: 0.9,
      max_prompt_tokens: 1000,
      max_completion_tokens: 500,
      truncation_strategy: { type: 'last_messages', last_messages: 4 },
      tool_choice: 'auto',
      parallel_tool_calls: false,
      response_format: { type: 'json_object' },
    });
    expect(run).toMatchObject({
      object: 'thread.run',
      thread_id: threadId,
      assistant_id: 'asst_abc',
      status: 'queued',
      model: 'gpt-4o-mini',
      instructions: 'Be brief.\n\nAnswer in French.',
      metadata: { user: 'u_1' },
      parallel_tool_calls: false,
      truncation_strategy: { type: 'last_messages', last_messages: 4 },
    });
    expect(run.id).toMatch(/^run_/);
    expect(run.expires_at).toBe(run.created_at + 600);
    expect(run).toEqual(await stored(run.id));
  });

  it('create without model or instructions: the server defaults them (no assistants here)', async () => {
    const run = await runs.api.create(uid('thread'), { assistant_id: 'asst_abc' });
    expect(run.model).toBe('gpt-4o');
    expect(run.instructions).toBe('');
    expect(run.tools).toEqual([]);
  });

  it('retrieve gives the stored run, with openai-poll-after-ms while it is still moving', async () => {
    const threadId = uid('thread');
    const created = await runs.api.create(threadId, { assistant_id: 'asst_abc' });
    const { data, response } = await runs.api.retrieve(created.id, { thread_id: threadId }).withResponse();
    expect(data).toEqual(await stored(created.id));
    expect(response.headers.get('openai-poll-after-ms')).toBe(String(POLL_AFTER_MS));
    await runs.api.cancel(created.id, { thread_id: threadId });
    const done = await runs.api.retrieve(created.id, { thread_id: threadId }).withResponse();
    expect(done.data.status).toBe('cancelled');
    expect(done.response.headers.get('openai-poll-after-ms')).toBeNull();
  });

  it('a second active run on a thread is a BadRequestError naming both', async () => {
    const threadId = uid('thread');
    const first = await runs.api.create(threadId, { assistant_id: 'asst_abc' });
    const error = await rejection(runs.api.create(threadId, { assistant_id: 'asst_abc' }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.status).toBe(400);
    expect(error.message).toBe(`400 Thread ${threadId} already has an active run ${first.id}.`);
    expect(error.type).toBe('invalid_request_error');
    expect((await db.runs().listByThread(threadId)).data.map((r) => r.id)).toEqual([first.id]);
  });

  it('an unknown run, and a run of another thread, are the same NotFoundError on every endpoint; nothing changes', async () => {
    const mine = uid('thread');
    const theirs = await runs.api.create(uid('thread'), { assistant_id: 'asst_abc', metadata: { k: 'v' } });
    const before = await stored(theirs.id);
    const notFound = async (id: string, call: Promise<unknown>) => {
      const error = await rejection(call);
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.message).toBe(`404 No run found with id '${id}'.`);
      expect(error.error).toEqual({ message: `No run found with id '${id}'.`, type: 'invalid_request_error', param: null, code: null });
    };
    await notFound('run_missing', runs.api.retrieve('run_missing', { thread_id: mine }));
    await notFound(theirs.id, runs.api.retrieve(theirs.id, { thread_id: mine }));
    await notFound(theirs.id, runs.api.update(theirs.id, { thread_id: mine, metadata: { k: 'changed' } }));
    await notFound(theirs.id, runs.api.cancel(theirs.id, { thread_id: mine }));
    await notFound(theirs.id, runs.api.submitToolOutputs(theirs.id, { thread_id: mine, tool_outputs: [{ tool_call_id: 'call_1', output: 'x' }] }));
    expect(await stored(theirs.id)).toEqual(before);
  });

  it('bad parameters are a BadRequestError whose param names the field', async () => {
    const threadId = uid('thread');
    const bad = async (call: Promise<unknown>, param: string, message: string) => {
      const error = await rejection(call);
      expect(error).toBeInstanceOf(BadRequestError);
      expect(error.param).toBe(param);
      expect(error.message).toBe(`400 ${message}`);
    };
    await bad(runs.api.create(threadId, {} as never), 'assistant_id', "Missing required parameter: 'assistant_id'.");
    await bad(runs.api.create(threadId, { assistant_id: 'a', temperature: 'hot' } as never), 'temperature', "Invalid 'temperature': must be a number, got a string.");
    await bad(runs.api.create(threadId, { assistant_id: 'a', metadata: { k: 'x'.repeat(513) } }), 'metadata.k', "Invalid 'metadata.k': must be at most 512 characters.");
    await bad(runs.api.create(threadId, { assistant_id: 'a', colour: 'red' } as never), 'colour', 'Unrecognized request argument supplied: colour');
    await bad(runs.api.create(threadId, { assistant_id: 'a', additional_messages: [{ role: 'user', content: 'hi' }] }), 'additional_messages', "Invalid 'additional_messages': is not supported: this server keeps no messages.");
    await bad(runs.api.create(threadId, { assistant_id: 'a', stream: true }) as Promise<unknown>, 'stream', "Invalid 'stream': must be false: this server does not stream.");
    await bad(runs.api.list(threadId, { limit: 0 }), 'limit', "Invalid 'limit': must be an integer from 1 to 100, got 0.");
    await bad(runs.api.list(threadId, { limit: 101 }), 'limit', "Invalid 'limit': must be an integer from 1 to 100, got 101.");
    await bad(runs.api.list(threadId, { order: 'sideways' as 'asc' }), 'order', `Invalid 'order': must be 'asc' or 'desc', got "sideways".`);
    // a cursor of another thread's run is not a cursor of this list
    const elsewhere = await runs.api.create(uid('thread'), { assistant_id: 'a' });
    await bad(runs.api.list(threadId, { after: elsewhere.id }), 'after', `Invalid 'after': no run "${elsewhere.id}" in this list.`);
    expect((await db.runs().listByThread(threadId)).data).toEqual([]);
  });

  it('list pages through every run of the thread exactly once, in both orders, page by page and item by item', async () => {
    const threadId = uid('thread');
    const ids = await finishedRuns(threadId, 7);
    await runs.api.create(uid('thread'), { assistant_id: 'asst_pages' }); // another thread's run is never listed
    for (const order of ['desc', 'asc'] as const) {
      const expected = (await db.runs().listByThread(threadId, { order, limit: 100 })).data.map((r) => r.id);
      expect([...expected].sort()).toEqual([...ids].sort());

      const items: Run[] = [];
      for await (const run of runs.api.list(threadId, { limit: 3, order })) items.push(run);
      expect(items.map((r) => r.id)).toEqual(expected);
      expect(items).toEqual(await Promise.all(expected.map(stored)));

      const pages: { ids: string[]; has_more: boolean }[] = [];
      for await (const page of (await runs.api.list(threadId, { limit: 3, order })).iterPages()) pages.push({ ids: page.data.map((r) => r.id), has_more: page.has_more });
      expect(pages).toEqual([
        { ids: expected.slice(0, 3), has_more: true },
        { ids: expected.slice(3, 6), has_more: true },
        { ids: expected.slice(6), has_more: false },
      ]);
    }
    // before: the runs just before a cursor, in the chosen order
    const asc = (await db.runs().listByThread(threadId, { order: 'asc', limit: 100 })).data.map((r) => r.id);
    const page = await runs.api.list(threadId, { order: 'asc', before: asc[4], limit: 2 });
    expect(page.data.map((r) => r.id)).toEqual(asc.slice(2, 4));
  });

  it('an empty thread lists as one empty page', async () => {
    const page = await runs.api.list(uid('thread'));
    expect(page.data).toEqual([]);
    expect(page.has_more).toBe(false);
    expect(page.hasNextPage()).toBe(false);
  });

  it('update replaces the metadata, also of a finished run; a body without metadata changes nothing', async () => {
    const threadId = uid('thread');
    const run = await runs.api.create(threadId, { assistant_id: 'asst_abc', metadata: { a: '1' } });
    const updated = await runs.api.update(run.id, { thread_id: threadId, metadata: { b: '2' } });
    expect(updated.metadata).toEqual({ b: '2' });
    expect(updated).toEqual(await stored(run.id));
    await runs.api.cancel(run.id, { thread_id: threadId });
    expect((await runs.api.update(run.id, { thread_id: threadId, metadata: { c: '3' } })).metadata).toEqual({ c: '3' });
    expect((await runs.api.update(run.id, { thread_id: threadId })).metadata).toEqual({ c: '3' });
    const error = await rejection(runs.api.update(run.id, { thread_id: threadId, status: 'completed' } as never));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.param).toBe('status');
    expect((await stored(run.id)).status).toBe('cancelled');
  });

  it('cancel: a queued run is cancelled; cancelling it again is a BadRequestError in API words', async () => {
    const threadId = uid('thread');
    const run = await runs.api.create(threadId, { assistant_id: 'asst_abc' });
    const cancelled = await runs.api.cancel(run.id, { thread_id: threadId });
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.cancelled_at).not.toBeNull();
    expect(cancelled).toEqual(await stored(run.id));
    const error = await rejection(runs.api.cancel(run.id, { thread_id: threadId }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.message).toBe(`400 Cannot cancel run ${run.id} with status 'cancelled'.`);
  });

  it('cancel: a run a worker holds is cancelling until the worker confirms it; poll sees it cancelled', async () => {
    const threadId = uid('thread');
    const run = await runs.api.create(threadId, { assistant_id: 'asst_abc' });
    await db.runs().start(run.id); // as a worker would have
    const cancelling = await runs.api.cancel(run.id, { thread_id: threadId });
    expect(cancelling.status).toBe('cancelling');
    expect((await runs.api.cancel(run.id, { thread_id: threadId })).status).toBe('cancelling'); // unchanged
    await worker.round();
    const polled = await runs.api.poll(run.id, { thread_id: threadId }, { pollIntervalMs: 0 });
    expect(polled.status).toBe('cancelled');
    expect(polled).toEqual(await stored(run.id));
  });

  it('submit_tool_outputs on a run that asks for none is a BadRequestError in API words', async () => {
    const threadId = uid('thread');
    const run = await runs.api.create(threadId, { assistant_id: 'asst_abc' });
    const error = await rejection(runs.api.submitToolOutputs(run.id, { thread_id: threadId, tool_outputs: [{ tool_call_id: 'call_1', output: '1' }] }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.message).toBe(`400 Cannot submit tool outputs to run ${run.id} with status 'queued'.`);
    expect((await stored(run.id)).status).toBe('queued');
  });

  it('a wrong URL and a body that is no JSON are answered in the API error shape', async () => {
    const base = client.baseURL;
    const wrong = await fetch(`${base}/threads/t/runz`, { method: 'GET' });
    expect(wrong.status).toBe(404);
    expect(await wrong.json()).toEqual({ error: { message: 'Invalid URL (GET /v1/threads/t/runz)', type: 'invalid_request_error', param: null, code: null } });
    const notJson = await fetch(`${base}/threads/t/runs`, { method: 'POST', body: '{"assistant_id":', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { message: string } }).error.message).toMatch(/^We could not parse the JSON body of your request/);
  });
});

describe('a worker that keeps nothing in memory', () => {
  it('a worker started after the run asked for its tool call completes it from the claimed output, without asking again', async () => {
    const fresh = () => new DemoWorker({ orm: db.orm, onError: (e) => workerErrors.push(e) });
    await fresh().round(); // what earlier tests left queued
    const threadId = uid('thread');
    const created = await runs.api.create(threadId, { assistant_id: 'asst_restart', tools: [{ type: 'function', function: { name: 'get_time' } }] });
    await fresh().round();
    const asking = await runs.api.retrieve(created.id, { thread_id: threadId });
    expect(asking.status).toBe('requires_action');
    const [call] = asking.required_action!.submit_tool_outputs.tool_calls;
    await runs.api.submitToolOutputs(created.id, { thread_id: threadId, tool_outputs: [{ tool_call_id: call.id, output: '12:00' }] });
    await fresh().round(); // another worker: a restart between the ask and the answer
    const done = await stored(created.id);
    expect(done.status).toBe('completed');
    expect(done.usage).toEqual(demoUsage(done));
    // asked once, answered once, then completed
    expect((await db.runs().history(created.id)).map((h) => h.to)).toEqual(['queued', 'in_progress', 'requires_action', 'queued', 'in_progress', 'completed']);
  });
});

describe('with the worker running', () => {
  beforeAll(() => worker.start());
  afterAll(() => worker.stop());

  it('createAndPoll: a run without tools comes back completed, with usage', async () => {
    const threadId = uid('thread');
    const run = await runs.api.createAndPoll(threadId, { assistant_id: 'asst_abc', instructions: 'Say hello to the user, politely.' });
    expect(run.status).toBe('completed');
    expect(run.completed_at).not.toBeNull();
    expect(run.expires_at).toBeNull();
    expect(run.usage).toEqual(demoUsage(run));
    expect(run.usage!.prompt_tokens).toBe(1 + Math.ceil('Say hello to the user, politely.'.length / 4));
    expect(run).toEqual(await stored(run.id));
  });

  it('createAndPoll stops at requires_action; submitToolOutputsAndPoll takes it to completed', async () => {
    const threadId = uid('thread');
    const asking = await runs.api.createAndPoll(threadId, {
      assistant_id: 'asst_abc',
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    expect(asking.status).toBe('requires_action');
    const calls = asking.required_action!.submit_tool_outputs.tool_calls;
    expect(calls).toEqual([{ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{}' } }]);
    expect(asking).toEqual(await stored(asking.id));

    // an output for a call the run did not make is refused, and the run keeps waiting
    const wrong = await rejection(runs.api.submitToolOutputs(asking.id, { thread_id: threadId, tool_outputs: [{ tool_call_id: 'call_other', output: 'x' }] }));
    expect(wrong).toBeInstanceOf(BadRequestError);
    expect(wrong.param).toBe('tool_outputs[0].tool_call_id');
    expect((await stored(asking.id)).status).toBe('requires_action');

    const done = await runs.api.submitToolOutputsAndPoll(asking.id, { thread_id: threadId, tool_outputs: [{ tool_call_id: calls[0].id, output: '{"celsius": 21}' }] });
    expect(done.status).toBe('completed');
    expect(done.required_action).toBeNull();
    expect(done.usage).toEqual(demoUsage(done));
    expect(done).toEqual(await stored(asking.id));
  });

  it('runs of many threads at once all complete', async () => {
    const done = await Promise.all(Array.from({ length: 8 }, () => runs.api.createAndPoll(uid('thread'), { assistant_id: 'asst_many' })));
    expect(done.map((r) => r.status)).toEqual(Array(8).fill('completed'));
  });
});

describe('the example itself', () => {
  it('imports the package only through its public surface (src/index.ts)', () => {
    const outside: string[] = [];
    for (const file of readdirSync(EXAMPLE).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(path.join(EXAMPLE, file), 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import)\s+'([^']+)'/g)) {
        if (spec.startsWith('./')) continue; // the example's own files
        if (spec === '../../src' || spec.startsWith('node:') || spec === '@mikro-orm/postgresql') continue;
        outside.push(`${file}: ${spec}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it('main.ts serves on its own: migrates, listens, completes a run, stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(EXAMPLE, 'main.ts')], {
      cwd: path.resolve(__dirname, '..', '..'),
      env: { ...process.env, DATABASE_URL: db.url, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line in 60 s; stderr: ${stderr}`)), 60_000);
        child.stdout.on('data', () => {
          const m = /^listening on (http:\/\/\S+)$/m.exec(stdout);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        void exited.then((code) => reject(new Error(`exited with ${code}; stderr: ${stderr}`)));
      });
      const own = new OpenAI({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
      const run = await own.beta.threads.runs.createAndPoll(uid('thread'), { assistant_id: 'asst_main' }, { pollIntervalMs: 20 });
      expect(run.status).toBe('completed');
      expect(run).toEqual(await stored(run.id));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+\/v1\n$/);
    expect(stderr).toBe('');
  });
});

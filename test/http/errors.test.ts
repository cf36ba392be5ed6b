/**
 * `toHttpError`: each package error → the API's status, error body and retry headers; and what the
 * official `openai` SDK makes of the answer (its error class, and whether it repeats the request),
 * through a real `node:http` server. No database.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { APIError, BadRequestError, InternalServerError, NotFoundError } from 'openai';
import {
  InvalidListQueryError,
  InvalidRunTransitionError,
  RunNotFoundError,
  RunStoreError,
  RunStoreUnavailableError,
  RunValidationError,
  ThreadHasActiveRunError,
  toHttpError,
  type HttpErrorResponse,
} from '../../src';
import { TRANSITION_NAMES } from '../../src/lifecycle/transitions';

const invalid = (status: number, message: string, param: string | null = null): HttpErrorResponse => ({
  status,
  headers: {},
  body: { error: { message, type: 'invalid_request_error', param, code: null } },
});

describe('toHttpError: the request is at fault', () => {
  it('a missing run is a 404 in the API wording', () => {
    expect(toHttpError(new RunNotFoundError('run_abc'))).toEqual(invalid(404, "No run found with id 'run_abc'."));
  });

  it("a thread's second active run is a 400 naming both", () => {
    expect(toHttpError(new ThreadHasActiveRunError('thread_1', 'run_2'))).toEqual(invalid(400, 'Thread thread_1 already has an active run run_2.'));
    expect(toHttpError(new ThreadHasActiveRunError('thread_1', null))).toEqual(invalid(400, 'Thread thread_1 already has an active run.'));
  });

  it('a refused transition is a 400 in API words, without the method name', () => {
    expect(toHttpError(new InvalidRunTransitionError('run_x', 'completed', 'cancel'))).toEqual(invalid(400, "Cannot cancel run run_x with status 'completed'."));
    expect(toHttpError(new InvalidRunTransitionError('run_x', 'queued', 'submitToolOutputs'))).toEqual(
      invalid(400, "Cannot submit tool outputs to run run_x with status 'queued'."),
    );
  });

  it('no transition name of the lifecycle table reaches a message', () => {
    for (const name of TRANSITION_NAMES) {
      const { body } = toHttpError(new InvalidRunTransitionError('run_x', 'expired', name));
      expect(body.error.message).toMatch(/^Cannot [a-z ]+ run run_x with status 'expired'\.$/);
      // camelCase method names (requireAction, markIncomplete, …) never show
      expect(body.error.message).not.toMatch(/[a-z][A-Z]/);
    }
    expect(toHttpError(new InvalidRunTransitionError('run_x', 'expired', 'somethingNew')).body.error.message).toBe("Cannot change run run_x with status 'expired'.");
    // a status change outside the operations, refused by the database's trigger
    expect(toHttpError(new InvalidRunTransitionError('run_x', 'completed', "move to 'queued'")).body.error.message).toBe("Cannot move run run_x with status 'completed' to 'queued'.");
  });

  it('an invalid field is a 400 whose param is the field path', () => {
    expect(toHttpError(RunValidationError.of('tools[2].function.name', 'must be a string, got a number'))).toEqual(
      invalid(400, "Invalid 'tools[2].function.name': must be a string, got a number.", 'tools[2].function.name'),
    );
    const several = new RunValidationError([
      { field: 'temperature', reason: 'must be a number, got a string' },
      { field: 'top_p', reason: 'must be at most 1' },
      { field: 'metadata', reason: 'must be an object' },
    ]);
    expect(toHttpError(several)).toEqual(invalid(400, "Invalid 'temperature': must be a number, got a string. (and 2 more problems)", 'temperature'));
  });

  it('a missing or unknown field is worded as the API words it', () => {
    expect(toHttpError(RunValidationError.of('assistant_id', 'is required'))).toEqual(invalid(400, "Missing required parameter: 'assistant_id'.", 'assistant_id'));
    expect(toHttpError(RunValidationError.of('foo', 'is not a field of this object'))).toEqual(invalid(400, 'Unrecognized request argument supplied: foo', 'foo'));
  });

  it('the validator still gives those two reasons (the wording above keys on them)', async () => {
    const { createRunSchema, parseOrThrow } = await import('../../src/api/schema');
    let error: unknown;
    try {
      parseOrThrow(createRunSchema, { thread_id: 'thread_1', model: 'gpt-4o', foo: 1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RunValidationError);
    expect((error as RunValidationError).issues).toEqual(
      expect.arrayContaining([
        { field: 'assistant_id', reason: 'is required' },
        { field: 'foo', reason: 'is not a field of this object' },
      ]),
    );
  });

  it('a bad list query is a 400 whose param is the parameter', () => {
    expect(toHttpError(new InvalidListQueryError('limit', 'must be an integer from 1 to 100, got 0'))).toEqual(
      invalid(400, "Invalid 'limit': must be an integer from 1 to 100, got 0.", 'limit'),
    );
  });
});

describe('toHttpError: nobody’s input is at fault', () => {
  it('a transient failure is a 503 with a retry hint', () => {
    expect(toHttpError(new RunStoreUnavailableError('pool_exhausted', true, false))).toEqual({
      status: 503,
      headers: { 'retry-after': '1', 'x-should-retry': 'true' },
      body: { error: { message: 'The server is temporarily unable to handle the request. Please retry it shortly.', type: 'server_error', param: null, code: null } },
    });
  });

  it('a write whose outcome is unknown is a 500 that forbids a blind retry', () => {
    const answer = toHttpError(new RunStoreUnavailableError('connection_lost', true, true, '57P01'));
    expect(answer.status).toBe(500);
    expect(answer.headers).toEqual({ 'x-should-retry': 'false' });
    expect(answer.body.error).toMatchObject({ type: 'server_error', param: null, code: 'outcome_unknown' });
    expect(answer.body.error.message).toMatch(/may or may not have been applied.*Retrieve the run/);
  });

  it('a lasting failure (tables missing) and a bug are a 500 that says nothing inside', () => {
    const generic = {
      status: 500,
      headers: { 'x-should-retry': 'false' },
      body: { error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } },
    };
    expect(toHttpError(new RunStoreUnavailableError('not_migrated', false, false, '42P01'))).toEqual(generic);
    expect(toHttpError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toEqual(generic);
    expect(toHttpError(new RunStoreError('select * from run_object'))).toEqual(generic);
    expect(toHttpError('a string')).toEqual(generic);
  });
});

/** A server that answers every request with `answer`, counting the requests. */
async function answering(answer: HttpErrorResponse): Promise<{ server: Server; client: OpenAI; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = new OpenAI({ apiKey: 'test', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 2 });
  return { server, client, requests: () => requests };
}

async function sdkErrorFor(error: unknown): Promise<{ thrown: unknown; requests: number }> {
  const { server, client, requests } = await answering(toHttpError(error));
  try {
    await client.beta.threads.runs.retrieve('run_1', { thread_id: 'thread_1' });
    return { thrown: null, requests: requests() };
  } catch (thrown) {
    return { thrown, requests: requests() };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('what the openai SDK makes of the answers', () => {
  it('NotFoundError for a missing run, BadRequestError with param for a bad field; neither retried', async () => {
    const missing = await sdkErrorFor(new RunNotFoundError('run_1'));
    expect(missing.thrown).toBeInstanceOf(NotFoundError);
    expect((missing.thrown as APIError).message).toBe("404 No run found with id 'run_1'.");
    expect((missing.thrown as APIError).type).toBe('invalid_request_error');
    expect(missing.requests).toBe(1);

    const bad = await sdkErrorFor(RunValidationError.of('metadata', 'must be an object, got a string'));
    expect(bad.thrown).toBeInstanceOf(BadRequestError);
    expect((bad.thrown as APIError).param).toBe('metadata');
    expect(bad.requests).toBe(1);
  });

  it('a transient failure is retried by the SDK (after retry-after); an unknown outcome and a bug are not', async () => {
    const transient = await sdkErrorFor(new RunStoreUnavailableError('server_unavailable', true, false, '57P03'));
    expect(transient.thrown).toBeInstanceOf(InternalServerError);
    expect((transient.thrown as APIError).status).toBe(503);
    expect(transient.requests).toBe(3); // the first try and maxRetries: 2

    const unknown = await sdkErrorFor(new RunStoreUnavailableError('connection_lost', true, true, 'ECONNRESET'));
    expect(unknown.thrown).toBeInstanceOf(InternalServerError);
    expect((unknown.thrown as APIError).code).toBe('outcome_unknown');
    expect(unknown.requests).toBe(1);

    const bug = await sdkErrorFor(new Error('boom'));
    expect(bug.thrown).toBeInstanceOf(InternalServerError);
    expect(bug.requests).toBe(1);
  });
});

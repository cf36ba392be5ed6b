/**
 * The package's errors as the Assistants API answers them over HTTP: a status, the headers that
 * tell a client (the official `openai` SDK among them) whether to retry, and the API's error body
 * `{ error: { message, type, param, code } }`. Pure; framework-free.
 */
import {
  InvalidListQueryError,
  InvalidRunTransitionError,
  RunNotFoundError,
  RunStoreUnavailableError,
  RunValidationError,
  ThreadHasActiveRunError,
} from '../errors';

/** The API's error object, the one key of an error response's body. */
export interface ApiError {
  message: string;
  /** `invalid_request_error`: the request is at fault (4xx); `server_error`: nobody's input is (5xx). */
  type: 'invalid_request_error' | 'server_error';
  /** The request parameter at fault (a body field path such as `tools[2].function.name`, or a query parameter). */
  param: string | null;
  code: string | null;
}

/** What to answer: `res.writeHead(status, headers).end(JSON.stringify(body))`. */
export interface HttpErrorResponse {
  /** 400 the request is at fault, 404 no such run (on that thread), 500 or 503 the store's fault. */
  status: number;
  /**
   * `x-should-retry` (`true`/`false`) on every 5xx, which the official SDKs obey instead of their
   * default of retrying every 5xx; `retry-after` (seconds) when a retry should succeed.
   */
  headers: Record<string, string>;
  body: { error: ApiError };
}

const SERVER_HAD_AN_ERROR = 'The server had an error while processing your request. Sorry about that!';

/** Seconds a client should wait before repeating a request the store could not serve for a moment. */
export const RETRY_AFTER_SECONDS = 1;

/** How each lifecycle operation is named in a refusal, in the API's words rather than the method's. */
const TRANSITION_WORDS: Record<string, string> = {
  start: 'start',
  claim: 'start',
  requireAction: 'request tool outputs for',
  submitToolOutputs: 'submit tool outputs to',
  complete: 'complete',
  fail: 'fail',
  markIncomplete: 'end as incomplete',
  cancel: 'cancel',
  confirmCancelled: 'confirm the cancellation of',
  expire: 'expire',
  recover: 'requeue',
};

/** `Cannot cancel run run_x with status 'completed'.` */
function refusedTransition({ runId, currentStatus, transition }: InvalidRunTransitionError): string {
  // A status change made outside the lifecycle's operations (an entity flushed, refused by the trigger) is named by its target.
  const target = /^move to '([a-z_]+)'$/.exec(transition)?.[1];
  if (target !== undefined) return `Cannot move run ${runId} with status '${currentStatus}' to '${target}'.`;
  return `Cannot ${TRANSITION_WORDS[transition] ?? 'change'} run ${runId} with status '${currentStatus}'.`;
}

const invalidRequest = (status: number, message: string, param: string | null = null): HttpErrorResponse => ({
  status,
  headers: {},
  body: { error: { message, type: 'invalid_request_error', param, code: null } },
});

const serverError = (status: number, message: string, retry: boolean, code: string | null = null): HttpErrorResponse => ({
  status,
  headers: retry ? { 'retry-after': String(RETRY_AFTER_SECONDS), 'x-should-retry': 'true' } : { 'x-should-retry': 'false' },
  body: { error: { message, type: 'server_error', param: null, code } },
});

/** The API's sentence for one rejected parameter. */
function invalidParameter(param: string, reason: string, more = 0): string {
  const andMore = more > 0 ? ` (and ${more} more problem${more > 1 ? 's' : ''})` : '';
  if (reason === 'is required') return `Missing required parameter: '${param}'.${andMore}`;
  if (reason === 'is not a field of this object') return `Unrecognized request argument supplied: ${param}${andMore}`;
  return `Invalid '${param}': ${reason.replace(/\.$/, '')}.${andMore}`;
}

function unavailable(error: RunStoreUnavailableError): HttpErrorResponse {
  if (error.outcomeUnknown) {
    // Repeating blindly could apply a write twice: the client must look first (retrieve the run).
    return serverError(500, 'The request may or may not have been applied: the server lost its connection to the database while applying it. Retrieve the run before repeating the request.', false, 'outcome_unknown');
  }
  if (error.retryable) return serverError(503, 'The server is temporarily unable to handle the request. Please retry it shortly.', true);
  return serverError(500, SERVER_HAD_AN_ERROR, false);
}

/**
 * The HTTP answer for `error`, whatever was thrown: each of the package's errors as the API words
 * it — `RunNotFoundError` 404 (`No run found with id 'run_x'.`), `ThreadHasActiveRunError` 400
 * (`Thread thread_x already has an active run run_y.`), `InvalidRunTransitionError` 400 (`Cannot
 * cancel run run_x with status 'completed'.`), `RunValidationError` and `InvalidListQueryError` 400
 * with `param` naming the field, `RunStoreUnavailableError` 503 with a retry hint when a retry is
 * safe and should succeed, else 500 (`code: 'outcome_unknown'` when a write may have committed:
 * the client must not repeat it blindly). Anything else (a bug) is a 500 that says nothing about
 * it; log it yourself.
 */
export function toHttpError(error: unknown): HttpErrorResponse {
  if (error instanceof RunNotFoundError || error instanceof ThreadHasActiveRunError) {
    // Their messages are the API's own sentences.
    return invalidRequest(error instanceof RunNotFoundError ? 404 : 400, error.message);
  }
  if (error instanceof InvalidRunTransitionError) return invalidRequest(400, refusedTransition(error));
  if (error instanceof RunValidationError) {
    return invalidRequest(400, invalidParameter(error.field, error.reason, error.issues.length - 1), error.field);
  }
  if (error instanceof InvalidListQueryError) {
    return invalidRequest(400, invalidParameter(error.parameter, error.reason), error.parameter);
  }
  if (error instanceof RunStoreUnavailableError) return unavailable(error);
  // Not retried: a bug does not go away, and the request may have written before it hit it.
  return serverError(500, SERVER_HAD_AN_ERROR, false);
}

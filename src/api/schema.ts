/**
 * Validation of everything that enters the store, written from the official schema
 * (../reference/openai-run-schemas.json) plus the limits its descriptions state only in prose,
 * and the v1 forms (`file_ids`, the `retrieval` tool). Objects are strict: an unknown key is an
 * error, because the store could not give it back.
 */
import { z } from 'zod';
import { cut, RunValidationError, ValidationIssue } from '../errors';
import { idReason, isPlainObject, jsonIssues, unstorableStringReason, UNIX_SECONDS_MAX } from './arguments';
import { RUN_STATUSES, TERMINAL_STATUSES } from './types';

/** The largest value an `integer` column holds. */
export const INT4_MAX = 2_147_483_647;
export const METADATA_MAX_PAIRS = 16;
export const METADATA_KEY_MAX = 64;
export const METADATA_VALUE_MAX = 512;
export const TOOLS_MAX = 20;

const text = z.string().superRefine((s, ctx) => {
  const reason = unstorableStringReason(s);
  if (reason) ctx.addIssue({ code: 'custom', message: reason });
});

/** An id (run, thread, assistant, model, tool call): non-empty, at most `ID_MAX_LENGTH` UTF-16 units, storable. */
const idText = z.string().superRefine((s, ctx) => {
  const reason = idReason(s);
  if (reason) ctx.addIssue({ code: 'custom', message: reason });
});

/**
 * A JSON object with any keys, each key checked by `key` and each value by `value`; the output is
 * the input object itself. Not `z.record`: zod copies a record by assignment, and assigning
 * `"__proto__"` sets the copy's prototype instead of a key, so a metadata key or schema property
 * named `__proto__` would be dropped, unchecked and without a word.
 */
function recordOf<V extends z.ZodType>(key: z.ZodType<string>, value: V): z.ZodType<Record<string, z.output<V>>> {
  return z.unknown().superRefine((input, ctx) => {
    if (!isPlainObject(input)) {
      ctx.addIssue({ code: 'invalid_type', expected: 'object', input });
      return;
    }
    for (const [k, v] of Object.entries(input)) {
      const keyResult = key.safeParse(k);
      if (!keyResult.success) {
        for (const issue of keyResult.error.issues) {
          ctx.addIssue({ code: 'custom', path: [k], message: issue.message.startsWith('key ') ? issue.message : `key ${issue.message}` });
        }
      }
      const valueResult = value.safeParse(v, { reportInput: true });
      if (!valueResult.success) for (const issue of valueResult.error.issues) ctx.addIssue({ ...issue, path: [k, ...issue.path] } as z.core.$ZodRawIssue);
    }
  }) as unknown as z.ZodType<Record<string, z.output<V>>>;
}

/** An open-ended JSON object (a function's `parameters`, a JSON schema): kept as given, checked to be storable. */
const jsonObject = recordOf(z.string(), z.unknown()).superRefine((value, ctx) => {
  for (const issue of jsonIssues(value, { storable: true })) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
});

const int4 = (min: number) => z.number().int().min(min).max(INT4_MAX);
const unixSeconds = z.number().int().min(0).max(UNIX_SECONDS_MAX);

export const metadataSchema = recordOf(
  text.refine((k) => [...k].length <= METADATA_KEY_MAX, `key must be at most ${METADATA_KEY_MAX} characters`),
  text.refine((v) => [...v].length <= METADATA_VALUE_MAX, `must be at most ${METADATA_VALUE_MAX} characters`),
)
  // (not a plain object: already an issue, which does not stop zod running this refinement)
  .refine((m) => !isPlainObject(m) || Object.keys(m).length <= METADATA_MAX_PAIRS, `must have at most ${METADATA_MAX_PAIRS} key-value pairs`)
  .nullable();

const functionDefinition = z.strictObject({
  name: text,
  description: text.optional(),
  parameters: jsonObject.optional(),
  strict: z.boolean().nullable().optional(),
});

export const toolSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('code_interpreter') }),
  z.strictObject({ type: z.literal('retrieval') }),
  z.strictObject({
    type: z.literal('file_search'),
    file_search: z
      .strictObject({
        max_num_results: z.number().int().min(1).max(50).optional(),
        ranking_options: z
          .strictObject({
            ranker: z.enum(['auto', 'default_2024_08_21']).optional(),
            score_threshold: z.number().min(0).max(1),
          })
          .optional(),
      })
      .optional(),
  }),
  z.strictObject({ type: z.literal('function'), function: functionDefinition }),
]);

export const toolsSchema = z.array(toolSchema).max(TOOLS_MAX);

export const toolCallSchema = z.strictObject({
  id: idText,
  type: z.literal('function'),
  function: z.strictObject({ name: text, arguments: text }),
});

export const requiredActionSchema = z.strictObject({
  type: z.literal('submit_tool_outputs'),
  submit_tool_outputs: z.strictObject({ tool_calls: z.array(toolCallSchema) }),
});

export const lastErrorSchema = z.strictObject({
  code: z.enum(['server_error', 'rate_limit_exceeded', 'invalid_prompt']),
  message: text,
});

export const incompleteDetailsSchema = z.strictObject({
  reason: z.enum(['max_completion_tokens', 'max_prompt_tokens']).optional(),
});

export const usageSchema = z.strictObject({
  prompt_tokens: int4(0),
  completion_tokens: int4(0),
  total_tokens: int4(0),
});

export const truncationStrategySchema = z.strictObject({
  type: z.enum(['auto', 'last_messages']),
  last_messages: int4(1).nullable().optional(),
});

export const toolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({
    type: z.enum(['function', 'code_interpreter', 'file_search']),
    function: z.strictObject({ name: text }).optional(),
  }),
]);

export const responseFormatSchema = z.union([
  z.literal('auto'),
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('text') }),
    z.strictObject({ type: z.literal('json_object') }),
    z.strictObject({
      type: z.literal('json_schema'),
      json_schema: z.strictObject({
        name: text,
        description: text.optional(),
        schema: jsonObject.optional(),
        strict: z.boolean().nullable().optional(),
      }),
    }),
  ]),
]);

const tokenLimit = int4(256).nullable();

/** Keys the older (v1) object did not have: required on a v2 object, optional on a v1 one. */
const V2_REQUIRED_KEYS = [
  'incomplete_details',
  'usage',
  'max_prompt_tokens',
  'max_completion_tokens',
  'truncation_strategy',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
] as const;

/** A run object as the API gives it, either version (a v1 object is one that carries `file_ids`). */
export const apiRunSchema = z
  .strictObject({
    id: idText,
    object: z.literal('thread.run'),
    created_at: unixSeconds,
    thread_id: idText,
    assistant_id: idText,
    status: z.enum(RUN_STATUSES),
    required_action: requiredActionSchema.nullable(),
    last_error: lastErrorSchema.nullable(),
    expires_at: unixSeconds.nullable(),
    started_at: unixSeconds.nullable(),
    cancelled_at: unixSeconds.nullable(),
    failed_at: unixSeconds.nullable(),
    completed_at: unixSeconds.nullable(),
    incomplete_details: incompleteDetailsSchema.nullable().optional(),
    model: idText,
    instructions: text.nullable(),
    tools: toolsSchema,
    file_ids: z.array(text).optional(),
    metadata: metadataSchema,
    usage: usageSchema.nullable().optional(),
    temperature: z.number().nullable().optional(),
    top_p: z.number().nullable().optional(),
    max_prompt_tokens: tokenLimit.optional(),
    max_completion_tokens: tokenLimit.optional(),
    truncation_strategy: truncationStrategySchema.nullable().optional(),
    tool_choice: toolChoiceSchema.nullable().optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: responseFormatSchema.nullable().optional(),
  })
  .superRefine((run, ctx) => {
    if (run.file_ids !== undefined) return;
    for (const key of V2_REQUIRED_KEYS) {
      if (run[key] === undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'is required (a run object without file_ids is of the newer API version)' });
      }
    }
  });

/** What `create` takes (the API's CreateRunRequest fields that a stored run keeps, plus the thread). */
export const createRunSchema = z.strictObject({
  thread_id: idText,
  assistant_id: idText,
  model: idText,
  instructions: text.nullable().optional(),
  tools: toolsSchema.nullable().optional(),
  file_ids: z.array(text).optional(),
  metadata: metadataSchema.optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_prompt_tokens: tokenLimit.optional(),
  max_completion_tokens: tokenLimit.optional(),
  truncation_strategy: truncationStrategySchema.nullable().optional(),
  tool_choice: toolChoiceSchema.nullable().optional(),
  response_format: responseFormatSchema.nullable().optional(),
  parallel_tool_calls: z.boolean().optional(),
});

export const toolCallsSchema = z.array(toolCallSchema).min(1);
/**
 * The most one `submitToolOutputs` takes: its outputs together, in UTF-8 bytes. They travel to
 * PostgreSQL in one `jsonb` parameter, which holds at most 256 MiB (the rest is room for the ids
 * and the structure); beyond it the database would refuse the statement.
 */
export const TOOL_OUTPUTS_MAX_BYTES = 200 * 1024 * 1024;
export const toolOutputsSchema = z.array(z.strictObject({ tool_call_id: idText, output: text })).superRefine((outputs, ctx) => {
  let total = 0;
  for (let i = 0; i < outputs.length; i++) {
    total += Buffer.byteLength(outputs[i].output, 'utf8');
    if (total > TOOL_OUTPUTS_MAX_BYTES) {
      ctx.addIssue({ code: 'custom', path: [i, 'output'], message: `the outputs together must be at most ${TOOL_OUTPUTS_MAX_BYTES} bytes (UTF-8), what one submit can carry` });
      return;
    }
  }
});

// --- workers: claims, leases, fencing tokens -------------------------------------------------

export const LEASE_SECONDS_MAX = 86_400;
export const WORKER_NAME_MAX = 200;
const workerName = text.refine((s) => s.length >= 1 && s.length <= WORKER_NAME_MAX, `must be 1 to ${WORKER_NAME_MAX} characters`);
const leaseSeconds = z.number().finite().positive().max(LEASE_SECONDS_MAX);
const attempt = z.number().int().min(1).max(INT4_MAX);

/** `claimNext`'s lease: both or neither (the filters are checked as ids beside it). */
export const claimLeaseSchema = z.strictObject({ worker: workerName, leaseSeconds });
export const leaseTokenSchema = z.strictObject({ worker: workerName, attempt });
export const RECOVER_BATCH_MAX = 10_000;
export const recoverOptionsSchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(INT4_MAX),
  batchSize: z.number().int().min(1).max(RECOVER_BATCH_MAX).optional(),
});
export const heartbeatSchema = z.strictObject({ worker: workerName, attempt, leaseSeconds });

// --- retention -------------------------------------------------------------------------------

export const PURGE_BATCH_MAX = 10_000;
/** The oldest cutoff `olderThanSeconds` can name: 400 years. */
export const PURGE_AGE_MAX_SECONDS = 400 * 365 * 86_400;
const TERMINAL = new Set<string>(TERMINAL_STATUSES);
/**
 * `purgeRuns`' JSON options (`before` and `onBatch` are no JSON values: the caller checks them
 * beside this). Statuses: terminal ones only, at least one.
 */
export const purgeOptionsSchema = z.strictObject({
  olderThanSeconds: z.number().finite().min(0).max(PURGE_AGE_MAX_SECONDS).optional(),
  statuses: z
    .array(z.enum(RUN_STATUSES).refine((s) => TERMINAL.has(s), 'is active: only terminal runs are purged'))
    .min(1, 'must name at least one terminal status')
    .optional(),
  batchSize: z.number().int().min(1).max(PURGE_BATCH_MAX).optional(),
  dryRun: z.boolean().optional(),
});

// ---------------------------------------------------------------------------------------------
// Turning zod's issues into the package's ValidationIssue list.

/** `['tools', 2, 'function', 'name']` → `tools[2].function.name` (prefixed with `root` when given). */
export function formatPath(path: readonly PropertyKey[], root = ''): string {
  let out = root;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && cut(part) === part && /^[A-Za-z_$][\w$]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(cut(String(part)))}]`;
  }
  return out || '(input)';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'object') return Object.getPrototypeOf(value) === Object.prototype ? 'an object' : `a ${value.constructor?.name ?? 'non-plain object'}`;
  return `a ${typeof value}`;
}

function toIssues(zodIssues: readonly z.core.$ZodIssue[], root: string, prefix: readonly PropertyKey[] = []): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const issue of zodIssues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ field: formatPath([...path, key], root), reason: 'is not a field of this object' });
    } else if (issue.code === 'invalid_key') {
      const [inner] = issue.issues;
      issues.push({ field: formatPath(path, root), reason: inner ? reasonOf(inner) : issue.message });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the alternative the input was meant to be: one whose own shape matched (no type
      // or value mismatch at its root), so the caller reads "json_schema is required", not
      // "does not match any allowed form".
      const meant = issue.errors.filter((alt) => !alt.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value' || i.code === 'invalid_union')));
      if (meant.length === 1) issues.push(...toIssues(meant[0], root, path));
      else issues.push({ field: formatPath(path, root), reason: reasonOf(issue) });
    } else {
      issues.push({ field: formatPath(path, root), reason: reasonOf(issue) });
    }
  }
  return issues;
}

function reasonOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${article(issue.expected)}, got ${describe(issue.input)}`;
    case 'too_big':
      if (issue.origin === 'array') return `must have at most ${issue.maximum} items`;
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      return `must be at most ${issue.maximum}`;
    case 'too_small':
      if (issue.origin === 'array') return `must have at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return `must be at least ${issue.minimum} characters`;
      return `must be at least ${issue.minimum}`;
    case 'invalid_value':
      if (issue.input === undefined) return 'is required';
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'invalid_union':
      if (issue.errors.length === 0 && (issue as { note?: string }).note === 'No matching discriminator') return 'is not a known type';
      return 'does not match any allowed form';
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'invalid_format':
      return `must be a valid ${issue.format}`;
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  if (expected === 'int') return 'an integer';
  if (expected === 'array' || expected === 'object') return `an ${expected}`;
  return `a ${expected}`;
}

/**
 * Parses `input` with `schema` or throws a `RunValidationError` naming every bad field (under
 * `root`). The input's shape is checked first, without recursion (`jsonIssues`: JSON types only,
 * depth, size), so that zod and everything after it only ever see a bounded tree of JSON values.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, root = ''): z.output<S> {
  const shape = jsonIssues(input);
  if (shape.length > 0) throw new RunValidationError(shape.map((issue) => ({ field: formatPath(issue.path, root), reason: issue.message })));
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) throw new RunValidationError(toIssues(result.error.issues, root));
  // The input itself, not zod's copy: the schemas have no transforms or defaults (so the two are the
  // same values), and zod's strict objects come out in the schema's key order — a function given as
  // `{ description, name, parameters }` must be stored, and come back, in the caller's order.
  return input as z.output<S>;
}

/**
 * Generators of INVALID arguments, made by mutating valid ones: for the fuzz of every public method
 * (fuzz.test.ts). Every mutation here must make its argument invalid whatever the valid value was
 * (a generator that can return something valid would make the fuzz fail on a correct store), so
 * each one knows where it may apply:
 * - anywhere (a string with NUL or a lone surrogate, a value JSON has no form for, nesting past the
 *   depth bound, a cycle);
 * - in "strict" places only, i.e. not inside an open-ended JSON object (metadata, a function's
 *   `parameters`, a `json_schema.schema`), where any JSON value is fine: an unknown key, a value of
 *   the wrong JSON type, a missing required key, an out-of-range or unknown value of a named field.
 */
import fc from 'fast-check';
import { ID_MAX_LENGTH, JSON_MAX_DEPTH, UNIX_SECONDS_END } from '../../src/api/arguments';

export type Path = (string | number)[];

/** Where a site is: a strict place, the root of an open-ended object, or inside one. */
type Place = 'strict' | 'openRoot' | 'open';

interface Site {
  path: Path;
  value: unknown;
  place: Place;
}

/** Keys whose value is an open-ended JSON object (under a strict parent). */
const OPEN_KEYS = new Set(['metadata', 'parameters', 'schema']);

function sitesOf(root: unknown, rootPlace: Place): Site[] {
  const out: Site[] = [];
  const visit = (value: unknown, path: Path, place: Place) => {
    out.push({ path, value, place });
    if (value === null || typeof value !== 'object') return;
    const childPlace = (key: string | number): Place => (place === 'strict' ? (typeof key === 'string' && OPEN_KEYS.has(key) ? 'openRoot' : 'strict') : 'open');
    if (Array.isArray(value)) value.forEach((item, i) => visit(item, [...path, i], childPlace(i)));
    else for (const [key, item] of Object.entries(value)) if (item !== undefined) visit(item, [...path, key], childPlace(key));
  };
  visit(root, [], rootPlace);
  return out;
}

function copyOf(value: unknown): Record<string | number, unknown> {
  return (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
}

/** `root` with the value at `path` replaced by `make(old)` (copies along the path; `remove` deletes the key or leaves a hole). */
export function updateAt(root: unknown, path: Path, make: (old: unknown) => unknown, remove = false): unknown {
  if (path.length === 0) return make(root);
  const [head, ...rest] = path;
  const copy = copyOf(root);
  if (rest.length === 0 && remove) delete copy[head];
  // defined, not assigned: a key named __proto__ (hostile metadata) must stay a key
  else Object.defineProperty(copy, head, { value: updateAt(copy[head], rest, make, remove), enumerable: true, writable: true, configurable: true });
  return copy;
}

/** The object at `path` with key `from` renamed to `to`, keeping key order. */
function renameKeyAt(root: unknown, path: Path, from: string, to: string): unknown {
  return updateAt(root, path, (obj) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj as object)) Object.defineProperty(out, k === from ? to : k, { value: v, enumerable: true, writable: true, configurable: true });
    return out;
  });
}

// --- hostile values ------------------------------------------------------------------------------

class Thing {
  readonly a = 1;
}

/** Values JSON has no form for: invalid wherever a JSON payload, an id or an options object goes. */
export const NON_JSON: readonly unknown[] = [
  10n,
  -(2n ** 70n),
  Symbol('s'),
  () => 0,
  new Date(0),
  new Map([['a', 1]]),
  new Set([1]),
  new Thing(),
  new String('x'),
  new Number(1),
  Object.create({ inherited: 1 }),
  new Uint8Array(2),
  /re/,
  new Error('boom'),
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
];

/** `{ a: { a: … } }` or `[[…]]`, `depth` levels (built without recursion). */
export function deepNest(depth: number, arrays: boolean, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value };
  return value;
}

/** Nesting past the bound wherever it is put (its own depth alone is beyond it), up to 6,000 deep. */
export const tooDeep: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: JSON_MAX_DEPTH + 1, max: 6000 }), fc.boolean())
  .map(([depth, arrays]) => deepNest(depth, arrays));

/** An object or array that contains itself. */
export const cyclic: fc.Arbitrary<unknown> = fc.boolean().map((arrays) => {
  const value: Record<string, unknown> | unknown[] = arrays ? [] : {};
  if (Array.isArray(value)) value.push(1, value);
  else value.self = { back: value };
  return value;
});

/** Anything that is not JSON: a non-JSON value, too deep a nest, a cycle. */
export const notJson: fc.Arbitrary<unknown> = fc.oneof({ arbitrary: fc.constantFrom(...NON_JSON), weight: 4 }, tooDeep, cyclic);

const NUL = '\u0000';
const HIGH = '\ud800';
const LOW = '\udc00';

/** `s` with a NUL or a lone surrogate put in at `at` (its neighbours cannot pair with it). */
export const poison = (s: string, at: number, kind: 0 | 1 | 2): string => {
  const i = Math.min(at, s.length);
  const bad = kind === 0 ? NUL : kind === 1 ? `${HIGH}x` : `x${LOW}`;
  return s.slice(0, i) + bad + s.slice(i);
};

const poisonArgs = fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom<0 | 1 | 2>(0, 1, 2));

/** A string too long to be an id: `ID_MAX_LENGTH + 1` up to 300,000 UTF-16 units. */
export const tooLong: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: ID_MAX_LENGTH + 1, max: 300_000 }), fc.constantFrom('x', 'é', '😀', 'run_'))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length).padEnd(length, 'x'));

/** Everything that is not an id, given a valid one to mutate. */
export function notAnId(valid: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom<unknown>(undefined, null, '', 0, 5, -1, true, false, {}, [], [valid], { id: valid }, new String(valid)),
    notJson,
    tooLong,
    poisonArgs.map(([at, kind]) => poison(valid, at, kind)),
  );
}

/** Misspellings of `key` (a letter dropped, doubled, its case changed, a suffix) that are no key of `known`. */
export function misspelt(key: string, known: ReadonlySet<string>): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat({ max: Math.max(0, key.length - 1) }), fc.constantFrom(0, 1, 2, 3))
    .map(([i, how]) => {
      if (how === 0) return key.slice(0, i) + key.slice(i + 1);
      if (how === 1) return key.slice(0, i) + key[i] + key.slice(i);
      if (how === 2) return key.toUpperCase();
      return `${key}_`;
    })
    .map((k) => (k === '' || known.has(k) ? `${key}__unknown` : k));
}

/** Every key of every object the store's inputs have: an added key must be none of them. */
export const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'id', 'object', 'created_at', 'thread_id', 'assistant_id', 'status', 'required_action', 'last_error', 'expires_at', 'started_at',
  'cancelled_at', 'failed_at', 'completed_at', 'incomplete_details', 'model', 'instructions', 'tools', 'file_ids', 'metadata', 'usage',
  'temperature', 'top_p', 'max_prompt_tokens', 'max_completion_tokens', 'truncation_strategy', 'tool_choice', 'parallel_tool_calls',
  'response_format', 'type', 'submit_tool_outputs', 'tool_calls', 'function', 'name', 'arguments', 'description', 'parameters', 'strict',
  'file_search', 'max_num_results', 'ranking_options', 'ranker', 'score_threshold', 'code', 'message', 'reason', 'prompt_tokens',
  'completion_tokens', 'total_tokens', 'last_messages', 'json_schema', 'schema', 'tool_call_id', 'output', 'limit', 'order', 'after',
  'before', 'created_after', 'created_before',
]);

/** Required keys of the objects in a payload, by the key (or `key[]` for an array's items) they sit under. */
const REQUIRED_KEYS: Record<string, readonly string[]> = {
  last_error: ['code', 'message'],
  usage: ['prompt_tokens', 'completion_tokens', 'total_tokens'],
  truncation_strategy: ['type'],
  json_schema: ['name'],
  response_format: ['type'],
  tool_choice: ['type'],
  ranking_options: ['score_threshold'],
  required_action: ['type', 'submit_tool_outputs'],
  submit_tool_outputs: ['tool_calls'],
  function: ['name'],
  'tools[]': ['type'],
  'tool_calls[]': ['id', 'type', 'function'],
  'tool_outputs[]': ['tool_call_id', 'output'],
};

const ids = (valid: unknown) => notAnId(typeof valid === 'string' ? valid : 'x').filter((v) => typeof v !== 'undefined' && v !== null);
const badUnix = fc.constantFrom<unknown>(-1, 1.5, 1e20, UNIX_SECONDS_END, '1716000000');
const badTokens = fc.constantFrom<unknown>(-1, 1.5, 2 ** 31, '1');

/**
 * Values a named field never takes (by its key; the key's meaning is the same in every object of
 * the inputs that has it). `nullable` fields are not given `null` here.
 */
export const BAD_FIELD_VALUES: Record<string, (valid: unknown) => fc.Arbitrary<unknown>> = {
  id: ids,
  thread_id: ids,
  assistant_id: ids,
  model: ids,
  tool_call_id: ids,
  object: () => fc.constantFrom('thread', 'thread.run ', 'Thread.Run', ''),
  status: () => fc.constantFrom('done', 'QUEUED', 'queued ', ''),
  created_at: () => badUnix,
  expires_at: () => badUnix,
  started_at: () => badUnix,
  cancelled_at: () => badUnix,
  failed_at: () => badUnix,
  completed_at: () => badUnix,
  type: () => fc.constantFrom('browser', '', 'Function', 'text '),
  code: () => fc.constantFrom('oops', ''),
  reason: () => fc.constantFrom('tired', '', null),
  ranker: () => fc.constantFrom('best', ''),
  max_num_results: () => fc.constantFrom<unknown>(0, 51, 1.5),
  score_threshold: () => fc.constantFrom<unknown>(-0.1, 1.5),
  last_messages: () => fc.constantFrom<unknown>(0, -1, 2 ** 31, 1.5),
  max_prompt_tokens: () => fc.constantFrom<unknown>(255, 2 ** 31, 300.5),
  max_completion_tokens: () => fc.constantFrom<unknown>(0, 2 ** 31, 300.5),
  prompt_tokens: () => badTokens,
  completion_tokens: () => badTokens,
  total_tokens: () => badTokens,
  tools: () => fc.constant(Array.from({ length: 21 }, () => ({ type: 'code_interpreter' }))),
  tool_choice: () => fc.constantFrom('sometimes', 'AUTO'),
  response_format: () => fc.constantFrom('json', 'text'),
};

/** Extra bad values for `create`, which applies `CreateRunRequest`'s bounds. */
export const CREATE_BAD_FIELD_VALUES: Record<string, (valid: unknown) => fc.Arbitrary<unknown>> = {
  ...BAD_FIELD_VALUES,
  temperature: () => fc.constantFrom<unknown>(2.5, -0.1),
  top_p: () => fc.constantFrom<unknown>(1.1, -0.1),
};

/** A JSON value of another type than `value`'s, that no strict place taking `value` takes. */
function otherType(value: unknown): fc.Arbitrary<unknown> {
  if (value === null) return fc.constant([[]]); // null sites take null|number, null|string, null|object, null|array of objects…
  if (typeof value === 'string') return fc.constantFrom<unknown>(7, true, {}, [[]]);
  if (typeof value === 'number') return fc.constantFrom<unknown>('7', true, {}, [[]]);
  if (typeof value === 'boolean') return fc.constantFrom<unknown>('true', 1, {}, [[]]);
  if (Array.isArray(value)) return fc.constantFrom<unknown>({}, 'x', 7);
  return fc.constantFrom<unknown>(7, true, 'not a known form', [value]);
}

export interface PayloadOptions {
  /** The root's place: `strict` for a run or an action, `openRoot` for `updateMetadata`'s metadata. */
  place?: Place;
  /** The key the root would sit under (`usage`, `last_error`, `tool_calls`…), for its required keys. */
  rootKey?: string;
  /** Required keys of the root object itself (e.g. a run's). */
  rootRequired?: readonly string[];
  /** Bad values by field name. */
  badFields?: Record<string, (valid: unknown) => fc.Arbitrary<unknown>>;
}

/** A mutation of `valid` that makes it invalid, with a label saying what was done and where. */
export interface Mutated {
  label: string;
  value: unknown;
}

const keyOf = (path: Path, rootKey: string | undefined): string | undefined => {
  const last = path[path.length - 1];
  if (typeof last === 'string') return last;
  if (typeof last === 'number') {
    const parent = path.length >= 2 ? path[path.length - 2] : rootKey;
    return typeof parent === 'string' ? `${parent}[]` : undefined;
  }
  return rootKey;
};

/** Invalid mutations of the JSON payload `valid` (see the file's comment for where each applies). */
export function mutatePayload(valid: unknown, options: PayloadOptions = {}): fc.Arbitrary<Mutated> {
  const sites = sitesOf(valid, options.place ?? 'strict');
  const strict = sites.filter((s) => s.place === 'strict');
  const strictObjects = strict.filter((s) => s.value !== null && typeof s.value === 'object' && !Array.isArray(s.value));
  const strings = sites.filter((s) => typeof s.value === 'string');
  const keyed = sites.filter((s) => s.value !== null && typeof s.value === 'object' && !Array.isArray(s.value) && Object.keys(s.value).length > 0);
  const arrays = sites.filter((s) => Array.isArray(s.value) && s.value.length > 0);
  const openRoots = sites.filter((s) => s.place === 'openRoot' && s.value !== null && typeof s.value === 'object' && !Array.isArray(s.value));
  const badFields = options.badFields ?? BAD_FIELD_VALUES;
  const named = strict.filter((s) => {
    const key = keyOf(s.path, options.rootKey);
    return s.path.length > 0 && typeof s.path[s.path.length - 1] === 'string' && key !== undefined && key in badFields;
  });
  const requiredAt = strictObjects.flatMap((s) => {
    const required = s.path.length === 0 && options.rootRequired ? options.rootRequired : REQUIRED_KEYS[keyOf(s.path, options.rootKey) ?? ''] ?? [];
    return required.filter((k) => (s.value as Record<string, unknown>)[k] !== undefined).map((k) => ({ site: s, key: k }));
  });
  const where = (path: Path) => (path.length === 0 ? '(root)' : path.join('.'));
  const pick = <T>(list: T[]) => fc.constantFrom(...list);

  const ops: fc.Arbitrary<Mutated>[] = [
    pick(sites).chain((s) => notJson.map((bad) => ({ label: `not JSON at ${where(s.path)}`, value: updateAt(valid, s.path, () => bad) }))),
  ];
  if (strings.length > 0) {
    ops.push(pick(strings).chain((s) => poisonArgs.map(([at, kind]) => ({ label: `poisoned string at ${where(s.path)}`, value: updateAt(valid, s.path, (old) => poison(old as string, at, kind)) }))));
  }
  if (keyed.length > 0) {
    ops.push(
      pick(keyed).chain((s) =>
        fc.tuple(pick(Object.keys(s.value as object)), poisonArgs).map(([key, [at, kind]]) => ({ label: `poisoned key ${key} at ${where(s.path)}`, value: renameKeyAt(valid, s.path, key, poison(key, at, kind)) })),
      ),
    );
  }
  if (arrays.length > 0) {
    ops.push(
      pick(arrays).chain((s) =>
        fc.tuple(fc.nat({ max: (s.value as unknown[]).length - 1 }), fc.boolean()).map(([i, hole]) => ({
          label: `${hole ? 'hole' : 'undefined'} at ${where([...s.path, i])}`,
          value: updateAt(valid, [...s.path, i], () => undefined, hole),
        })),
      ),
    );
  }
  if (strictObjects.length > 0) {
    ops.push(
      pick(strictObjects).chain((s) => {
        const keys = Object.keys(s.value as object);
        const name = keys.length > 0 ? pick(keys).chain((k) => misspelt(k, KNOWN_KEYS)) : fc.constant('extra');
        return fc.tuple(name, fc.jsonValue({ maxDepth: 1 })).map(([key, v]) => ({ label: `unknown key ${key} at ${where(s.path)}`, value: updateAt(valid, s.path, (old) => ({ ...(old as object), [key]: v })) }));
      }),
    );
  }
  const typed = [...strict, ...openRoots];
  if (typed.length > 0) ops.push(pick(typed).chain((s) => otherType(s.value).map((bad) => ({ label: `wrong type at ${where(s.path)}`, value: updateAt(valid, s.path, () => bad) }))));
  if (requiredAt.length > 0) ops.push(pick(requiredAt).map(({ site, key }) => ({ label: `missing ${key} at ${where(site.path)}`, value: updateAt(valid, [...site.path, key], () => undefined, true) })));
  if (named.length > 0) {
    ops.push(
      pick(named).chain((s) => badFields[keyOf(s.path, options.rootKey)!](s.value).map((bad) => ({ label: `bad ${String(s.path[s.path.length - 1])} at ${where(s.path)}`, value: updateAt(valid, s.path, () => bad) }))),
    );
  }
  const metadataSites = openRoots.filter((s) => s.path[s.path.length - 1] === 'metadata' || (s.path.length === 0 && options.place === 'openRoot'));
  if (metadataSites.length > 0) ops.push(pick(metadataSites).chain((s) => badMetadata(s.value as Record<string, unknown>).map((bad) => ({ label: `bad metadata at ${where(s.path)}`, value: updateAt(valid, s.path, () => bad) }))));
  return fc.oneof(...ops);
}

/** Metadata beyond its limits: 17 pairs, a 65-character key, a 513-character value, a value that is no string. */
function badMetadata(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid);
  return fc.oneof(
    fc.constant({ ...valid, ...Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}_extra`, 'v'])) }),
    fc.constant({ ...valid, ['k'.repeat(65)]: 'v' }),
    fc.constant({ ...valid, k_long_value: 'v'.repeat(513) }),
    fc.constantFrom<unknown>(1, true, null, [[]], { nested: {} }).map((v) => ({ ...valid, [keys[0] ?? 'k']: v === null ? 7 : v })),
  );
}

/** Every invalid form of an options object (claimNext's, a list query, an aggregate filter) built from a valid one. */
export function mutateOptions(valid: Record<string, unknown>, allowed: readonly string[], badValues: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Mutated> {
  const known = new Set([...KNOWN_KEYS, ...allowed]);
  const present = Object.keys(valid);
  return fc.oneof(
    fc.constantFrom<unknown>(5, 0, 'assistant_id', true, [], [valid], new Date(), ...NON_JSON).map((value) => ({ label: 'not an object', value })),
    tooDeep.map((value) => ({ label: 'too deep', value })),
    fc.constantFrom(...allowed).chain((k) => misspelt(k, known)).map((key) => ({ label: `unknown key ${key}`, value: { ...valid, [key]: valid[key.replace(/_+unknown$|_$/, '')] ?? 'x' } })),
    fc.constantFrom(...allowed).chain((k) => badValues[k].map((bad) => ({ label: `bad ${k}`, value: { ...valid, [k]: bad } }))),
    ...(present.length > 0 ? [fc.constantFrom(...present).chain((k) => poisonArgs.map(([at, kind]) => ({ label: `poisoned key ${k}`, value: Object.fromEntries(Object.entries(valid).map(([key, v]) => [key === k ? poison(k, at, kind) : key, v])) })))] : []),
  );
}

/**
 * The checks every public method applies to its arguments before it builds any SQL: ids, options
 * objects, times, and the shape of JSON payloads (types, depth, size). Pure; no I/O. Each check
 * throws the error its caller names: `RunValidationError` by default, `InvalidListQueryError` for
 * list queries and aggregate filters. Messages quote a caller's value only as a short excerpt.
 */
import { cut, InvalidListQueryError, RunValidationError, type RunStoreError } from '../errors';

/** The longest id the store takes (run, thread, assistant, cursor, model, tool call), in UTF-16 units. */
export const ID_MAX_LENGTH = 256;
/** How deep an argument may nest objects and arrays, counted from the argument itself (depth 1). */
export const JSON_MAX_DEPTH = 64;
/** How many JSON values (objects, arrays, scalars; as `JSON.stringify` would write them) one argument may hold. */
export const JSON_MAX_VALUES = 1_000_000;
/** Unix seconds accepted for times: 1970-01-01 … 9999-12-31 (PostgreSQL's timestamptz holds them all). */
export const UNIX_SECONDS_MAX = 253_402_300_799;
/** The end of the last accepted second: the largest `created_before`, and the bound of `expireOverdue`'s `now`. */
export const UNIX_SECONDS_END = UNIX_SECONDS_MAX + 1;

/** Makes the error a check throws, from the field (or list parameter) and the reason. */
export type Refusal = (field: string, reason: string) => RunStoreError;
export const validationError: Refusal = (field, reason) => RunValidationError.of(field, reason);
export const listQueryError: Refusal = (parameter, reason) => new InvalidListQueryError(parameter, reason);

// --- describing caller values, briefly ---------------------------------------------------------

/** A short, safe rendering of any value for a message: strings quoted and cut, containers by kind only. */
export function excerpt(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(cut(value));
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${cut(String(value))}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return isPlainObject(value) ? 'an object' : `a ${Object.prototype.toString.call(value).slice(8, -1)}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// --- strings and ids ---------------------------------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why PostgreSQL could not store this string as given, or null when it can. */
export function unstorableStringReason(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (\\u0000), which PostgreSQL cannot store';
  if (LONE_SURROGATE.test(s)) return 'contains a lone UTF-16 surrogate, which is not valid Unicode';
  return null;
}

/** Why `value` is not an id (a non-empty storable string of at most `ID_MAX_LENGTH` UTF-16 units), or null. */
export function idReason(value: unknown): string | null {
  if (typeof value !== 'string') return `must be a non-empty string, got ${excerpt(value)}`;
  if (value.length === 0) return 'must be a non-empty string';
  if (value.length > ID_MAX_LENGTH) return `must be at most ${ID_MAX_LENGTH} characters (UTF-16 units), got ${value.length}`;
  return unstorableStringReason(value);
}

/** `value` as an id, or the refusal naming `field`. */
export function checkId(value: unknown, field: string, refuse: Refusal = validationError): string {
  const reason = idReason(value);
  if (reason !== null) throw refuse(field, reason);
  return value as string;
}

export const isAbsent = (value: unknown): value is undefined | null => value === undefined || value === null;

/** `undefined`/`null` → null; anything else must be an id. */
export function optionalId(value: unknown, field: string, refuse: Refusal = validationError): string | null {
  return isAbsent(value) ? null : checkId(value, field, refuse);
}

// --- options objects ---------------------------------------------------------------------------

/** `options.key`, or `options["a key"]` (cut) when the key is no plain name: a field path with a caller's key in it. */
export function keyPath(parent: string, key: string): string {
  const shown = cut(key);
  if (shown === key && /^[A-Za-z_$][\w$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(shown)}]`;
}

/**
 * An options object: absent (`undefined`, `null`) is `{}`; otherwise a plain object whose every own
 * key is one of `allowed` (a misspelt option must be refused, not ignored: ignoring it widens what
 * the call touches). `keyField` names the field of an unknown key.
 */
export function checkOptions(
  value: unknown,
  field: string,
  allowed: readonly string[],
  refuse: Refusal = validationError,
  keyField: (key: string) => string = (key) => keyPath(field, key),
): Record<string, unknown> {
  if (isAbsent(value)) return {};
  if (!isPlainObject(value)) throw refuse(field, `must be an object, got ${excerpt(value)}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw refuse(keyField(key), `is not an option here (expected one of ${allowed.join(', ')})`);
  }
  return value;
}

// --- times ---------------------------------------------------------------------------------------

/** A finite number of unix seconds (fractions allowed) from 0 to `UNIX_SECONDS_END`; absent → null. */
export function optionalUnixSeconds(value: unknown, field: string, refuse: Refusal = validationError): number | null {
  if (isAbsent(value)) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > UNIX_SECONDS_END) {
    throw refuse(field, `must be unix seconds from 0 to ${UNIX_SECONDS_END}, got ${excerpt(value)}`);
  }
  return value;
}

/** A valid `Date` from 1970 to the end of 9999, as a fresh `Date` (a subclass's overrides never reach SQL). */
export function checkDate(value: unknown, field: string, refuse: Refusal = validationError): Date {
  let ms = Number.NaN;
  try {
    // The brand check: `Date.prototype.getTime` throws on anything that is not really a Date.
    ms = Date.prototype.getTime.call(value);
  } catch {
    throw refuse(field, `must be a Date, got ${excerpt(value)}`);
  }
  if (!Number.isFinite(ms) || ms < 0 || ms >= UNIX_SECONDS_END * 1000) throw refuse(field, 'must be a valid Date from 1970 to 9999');
  return new Date(ms);
}

// --- waits -------------------------------------------------------------------------------------

/** The longest wait a timer can hold (setTimeout's limit), in ms. */
export const WAIT_MS_MAX = 2_147_483_647;

/** A wait's length: whole milliseconds from 0 to `WAIT_MS_MAX`; `undefined` → null (a given option must be one: `null` is refused). */
export function optionalWaitMs(value: unknown, field: string, refuse: Refusal = validationError): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > WAIT_MS_MAX) {
    throw refuse(field, `must be whole milliseconds from 0 to ${WAIT_MS_MAX}, got ${excerpt(value)}`);
  }
  return value;
}

/**
 * An `AbortSignal` (checked by its shape — `aborted` and `addEventListener` — so that a signal of
 * another realm is one too); `undefined` → null (`null` is refused).
 */
export function optionalSignal(value: unknown, field: string, refuse: Refusal = validationError): AbortSignal | null {
  if (value === undefined) return null;
  const s = value as { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown };
  if (typeof value !== 'object' || value === null || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function' || typeof s.removeEventListener !== 'function') {
    throw refuse(field, `must be an AbortSignal, got ${excerpt(value)}`);
  }
  return value as AbortSignal;
}

// --- JSON payloads -------------------------------------------------------------------------------

export interface JsonIssue {
  path: (string | number)[];
  message: string;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | null;
  key: string | number | null;
  /** Set once the frame's children are pushed: popping it again closes the container. */
  entered?: boolean;
}

function pathOf(frame: Frame): (string | number)[] {
  const path: (string | number)[] = [];
  for (let f: Frame | null = frame; f !== null && f.key !== null; f = f.parent) path.push(f.key);
  return path.reverse();
}

/**
 * What keeps `value` from being JSON the store can take, found without recursion (so no depth can
 * overflow the stack): a value JSON has no form for (`undefined` in an array, a bigint, a symbol, a
 * function, an object that is not plain — a Date, a Map, a class instance), nesting deeper than
 * `JSON_MAX_DEPTH`, a cycle, more than `JSON_MAX_VALUES` values. With `storable`, also strings and
 * keys PostgreSQL cannot store and numbers that are not finite. At most `limit` issues; none for
 * `undefined` itself.
 */
export function jsonIssues(value: unknown, options: { storable?: boolean; limit?: number } = {}): JsonIssue[] {
  // an absent argument is the schema's to judge ("is required", or fine when optional)
  if (value === undefined) return [];
  const limit = options.limit ?? 20;
  const issues: JsonIssue[] = [];
  const open = new Set<object>();
  const stack: Frame[] = [{ value, depth: 1, parent: null, key: null }];
  let values = 0;
  const add = (frame: Frame, message: string, key?: string | number) => {
    const path = pathOf(frame);
    issues.push({ path: key === undefined ? path : [...path, key], message });
  };
  while (stack.length > 0 && issues.length < limit) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (frame.entered) {
      open.delete(v as object);
      continue;
    }
    if (++values > JSON_MAX_VALUES) {
      issues.push({ path: [], message: `must hold at most ${JSON_MAX_VALUES} JSON values` });
      break;
    }
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'string') {
      const reason = options.storable ? unstorableStringReason(v) : null;
      if (reason) add(frame, reason);
      continue;
    }
    if (typeof v === 'number') {
      if (options.storable && !Number.isFinite(v)) add(frame, 'must be a finite JSON number');
      continue;
    }
    const isArray = Array.isArray(v);
    if (!isArray && !isPlainObject(v)) {
      add(frame, `must be a JSON value, got ${excerpt(v)}`);
      continue;
    }
    if (open.has(v)) {
      add(frame, 'refers to itself (a cycle)');
      continue;
    }
    if (frame.depth > JSON_MAX_DEPTH) {
      add(frame, `nests deeper than ${JSON_MAX_DEPTH} levels`);
      continue;
    }
    open.add(v);
    frame.entered = true;
    stack.push(frame);
    const depth = frame.depth + 1;
    if (isArray) {
      for (let i = v.length - 1; i >= 0; i--) {
        const item = v[i];
        if (item === undefined) add(frame, 'must be a JSON value, got undefined', i);
        else stack.push({ value: item, depth, parent: frame, key: i });
      }
    } else {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i];
        if (options.storable) {
          const reason = unstorableStringReason(key);
          if (reason) add(frame, `key ${reason}`, key);
        }
        const item = v[key];
        // an `undefined` property is an absent key, as JSON.stringify writes it
        if (item !== undefined) stack.push({ value: item, depth, parent: frame, key });
      }
    }
  }
  return issues.slice(0, limit);
}

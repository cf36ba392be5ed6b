/**
 * A list endpoint's query string (`?limit=20&order=desc&after=run_x&before=run_y`) as the
 * `RunListQuery` the repository's lists take. Pure; framework-free.
 */
import { listSpec, MAX_LIST_LIMIT } from '../api/list-query';
import type { RunListQuery } from '../api/types';
import { InvalidListQueryError } from '../errors';

/**
 * A query string as a service has it: the raw string (with or without its `?`), `URLSearchParams`
 * (`new URL(req.url, base).searchParams`), or an object of strings and string arrays (Node's
 * `querystring.parse`, Express's `req.query`, Fastify's `request.query`).
 */
export type QueryParameters = string | URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The parameters of the API's list endpoints. */
export const LIST_QUERY_PARAMETERS = ['limit', 'order', 'after', 'before'] as const;

const KNOWN = new Set<string>(LIST_QUERY_PARAMETERS);
const DIGITS = /^[0-9]+$/;

const quoted = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

/** Every parameter's values, in the order given. */
function valuesOf(query: QueryParameters): Map<string, unknown[]> {
  const values = new Map<string, unknown[]>();
  const add = (key: string, value: unknown) => values.set(key, [...(values.get(key) ?? []), value]);
  if (typeof query === 'string' || query instanceof URLSearchParams) {
    for (const [key, value] of new URLSearchParams(query)) add(key, value);
    return values;
  }
  if (query === null || typeof query !== 'object') throw new InvalidListQueryError('query', 'must be a query string or an object of parameters');
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) value.forEach((v) => add(key, v));
    else add(key, value);
  }
  return values;
}

/**
 * The list query in a query string, checked as the repository's lists check it: `limit` decimal
 * digits for 1 to 100, `order` `asc` or `desc`, `after`/`before` non-empty run ids. An unknown
 * parameter, a parameter given twice, or a bad value is an `InvalidListQueryError` naming the
 * parameter (which `toHttpError` answers with a 400 and `param`). Absent parameters stay absent
 * (the list's defaults apply: limit 20, order `desc`).
 */
export function parseRunListQuery(query: QueryParameters): RunListQuery {
  const parsed: RunListQuery = {};
  for (const [key, values] of valuesOf(query)) {
    if (!KNOWN.has(key)) throw new InvalidListQueryError(key, `unknown parameter (expected one of ${LIST_QUERY_PARAMETERS.join(', ')})`);
    if (values.length === 0) continue;
    if (values.length > 1) throw new InvalidListQueryError(key, `must be given once, got ${values.length} values`);
    const [value] = values;
    if (typeof value !== 'string') throw new InvalidListQueryError(key, 'must be a single string value');
    if (key === 'limit') {
      if (!DIGITS.test(value)) throw new InvalidListQueryError('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${quoted(value)}`);
      parsed.limit = Number(value);
    } else if (key === 'order') {
      parsed.order = value as RunListQuery['order'];
    } else {
      parsed[key as 'after' | 'before'] = value;
    }
  }
  // The lists' own rules (limit's range, order's values, non-empty cursors), so that the query
  // fails here, before the endpoint does anything else.
  listSpec(null, null, parsed);
  return parsed;
}

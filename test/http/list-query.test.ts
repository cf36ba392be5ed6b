/**
 * `parseRunListQuery`: a list endpoint's query string → `RunListQuery`, with typed errors that name
 * the parameter. No database.
 */
import { parse as parseQuerystring } from 'node:querystring';
import { InvalidListQueryError, parseRunListQuery, toHttpError, type QueryParameters } from '../../src';

function rejection(query: QueryParameters): { parameter: string; reason: string } {
  try {
    parseRunListQuery(query);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidListQueryError);
    const { parameter, reason } = error as InvalidListQueryError;
    return { parameter, reason };
  }
  throw new Error(`accepted ${JSON.stringify(query instanceof URLSearchParams ? query.toString() : query)}`);
}

describe('parseRunListQuery', () => {
  it('reads every parameter, from each form a service has', () => {
    const text = 'limit=20&order=desc&after=run_a&before=run_b';
    const expected = { limit: 20, order: 'desc', after: 'run_a', before: 'run_b' };
    expect(parseRunListQuery(text)).toEqual(expected);
    expect(parseRunListQuery(`?${text}`)).toEqual(expected);
    expect(parseRunListQuery(new URL(`http://h/v1/threads/t/runs?${text}`).searchParams)).toEqual(expected);
    expect(parseRunListQuery(parseQuerystring(text))).toEqual(expected);
    expect(parseRunListQuery({ limit: ['5'], order: 'asc' })).toEqual({ limit: 5, order: 'asc' });
  });

  it('leaves absent parameters absent (the lists default them)', () => {
    expect(parseRunListQuery('')).toEqual({});
    expect(parseRunListQuery(new URLSearchParams())).toEqual({});
    expect(parseRunListQuery({ limit: undefined, order: [] })).toEqual({});
  });

  it('takes limit as decimal digits from 1 to 100', () => {
    expect(parseRunListQuery('limit=1').limit).toBe(1);
    expect(parseRunListQuery('limit=100').limit).toBe(100);
    expect(parseRunListQuery('limit=007').limit).toBe(7);
    for (const bad of ['abc', '', '1.5', '1e2', '0x10', '+5', '-1', ' 5', '5 ', '２']) {
      expect(rejection({ limit: bad })).toEqual({ parameter: 'limit', reason: `must be an integer from 1 to 100, got ${JSON.stringify(bad)}` });
    }
    expect(rejection('limit=0')).toEqual({ parameter: 'limit', reason: 'must be an integer from 1 to 100, got 0' });
    expect(rejection('limit=101')).toEqual({ parameter: 'limit', reason: 'must be an integer from 1 to 100, got 101' });
    expect(rejection(`limit=${'9'.repeat(60)}`).parameter).toBe('limit');
  });

  it('quotes at most 40 characters of a bad value', () => {
    const { reason } = rejection({ limit: 'x'.repeat(1000) });
    expect(reason).toBe(`must be an integer from 1 to 100, got "${'x'.repeat(40)}…"`);
  });

  it('takes order asc or desc only', () => {
    expect(parseRunListQuery('order=asc').order).toBe('asc');
    expect(rejection('order=ASC')).toEqual({ parameter: 'order', reason: `must be 'asc' or 'desc', got "ASC"` });
    expect(rejection('order=').parameter).toBe('order');
  });

  it('takes cursors as non-empty ids', () => {
    expect(parseRunListQuery('after=run_%20x')).toEqual({ after: 'run_ x' });
    expect(rejection('after=')).toEqual({ parameter: 'after', reason: 'must be a non-empty string' });
    expect(rejection({ before: '' })).toEqual({ parameter: 'before', reason: 'must be a non-empty string' });
  });

  it('refuses a parameter given twice, in every form', () => {
    const reason = 'must be given once, got 2 values';
    expect(rejection('limit=5&limit=6')).toEqual({ parameter: 'limit', reason });
    expect(rejection('after=run_a&after=run_a')).toEqual({ parameter: 'after', reason });
    expect(rejection(parseQuerystring('order=asc&order=desc'))).toEqual({ parameter: 'order', reason });
    expect(rejection({ before: ['run_a', 'run_b'] })).toEqual({ parameter: 'before', reason });
  });

  it('refuses an unknown parameter, also one the store knows but the API does not', () => {
    const reason = 'unknown parameter (expected one of limit, order, after, before)';
    expect(rejection('limit=5&lmit=6')).toEqual({ parameter: 'lmit', reason });
    expect(rejection('status=queued')).toEqual({ parameter: 'status', reason });
    expect(rejection(JSON.parse('{"__proto__": "x"}'))).toEqual({ parameter: '__proto__', reason });
  });

  it('refuses values that are not strings (a nested query object)', () => {
    const nested = { after: { gt: 'run_a' } } as unknown as QueryParameters;
    expect(rejection(nested)).toEqual({ parameter: 'after', reason: 'must be a single string value' });
    expect(rejection(null as unknown as QueryParameters)).toEqual({ parameter: 'query', reason: 'must be a query string or an object of parameters' });
  });

  it('answers over HTTP as a 400 naming the parameter', () => {
    let thrown: unknown;
    try {
      parseRunListQuery('limit=abc');
    } catch (error) {
      thrown = error;
    }
    expect(toHttpError(thrown)).toEqual({
      status: 400,
      headers: {},
      body: { error: { message: `Invalid 'limit': must be an integer from 1 to 100, got "abc".`, type: 'invalid_request_error', param: 'limit', code: null } },
    });
  });
});

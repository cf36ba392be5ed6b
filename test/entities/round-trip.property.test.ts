/**
 * Property: any schema-valid run object of either version — hostile-but-valid text included (see
 * arbitraries.ts) — comes back from the store as the same JSON, through `importRun` and through
 * `importRuns` (whose row mapping, `appendApiRunRows`, is separate from `importRun`'s): equal as
 * canonical JSON text (keys sorted: what deep equality forgives, text does not), and as the very
 * text (key order included: the API's order at the top level, the input's inside the JSON parts).
 */
import fc from 'fast-check';
import { toApiRun } from '../../src/api/mapping';
import type { ApiRunInput } from '../../src/api/types';
import { ThreadHasActiveRunError } from '../../src/errors';
import { asStored, asStoredText } from '../factories';
import { apiRunV1, apiRunV2 } from './arbitraries';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

const RUNS = Number(process.env.ARS_PROPERTY_RUNS ?? 400);
const SEED = process.env.ARS_PROPERTY_SEED ? Number(process.env.ARS_PROPERTY_SEED) : undefined;

/** JSON text with every object's keys sorted (built as text, so a key named `__proto__` stays a key). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The stored run, as the API object and as the entity's own JSON, both equal to what went in. */
async function expectStoredAsGiven(run: ApiRunInput): Promise<void> {
  const back = await db.runs().getById(run.id);
  const expected = canonicalJson(asStored(run));
  expect(canonicalJson(JSON.parse(JSON.stringify(toApiRun(back))))).toBe(expected);
  expect(canonicalJson(JSON.parse(JSON.stringify(back)))).toBe(expected);
  // and the very text: the API's key order at the top level, the input's inside the JSON parts
  expect(JSON.stringify(toApiRun(back))).toBe(asStoredText(run));
}

let threads = 0;
/** Generated runs share few thread ids; the thread lock is not what these properties are about. */
const ownThread = (run: ApiRunInput): ApiRunInput => ({ ...run, thread_id: `${run.thread_id}#${threads++}` });

it(`${RUNS} generated runs of both versions survive importRun → getById → JSON unchanged, as text`, async () => {
  let stored = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(apiRunV2, apiRunV1), async (generated) => {
      const run = ownThread(generated);
      try {
        await db.runs().importRun(run);
      } catch (error) {
        if (error instanceof ThreadHasActiveRunError) return;
        throw error;
      }
      stored += 1;
      await expectStoredAsGiven(run);
    }),
    { numRuns: RUNS, seed: SEED },
  );
  expect(stored).toBe(RUNS);
});

it(`${Math.ceil(RUNS / 4)} generated batches survive importRuns → getById → JSON unchanged`, async () => {
  let stored = 0;
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.oneof(apiRunV2, apiRunV1), { minLength: 1, maxLength: 8, selector: (r) => r.id }), async (generated) => {
      const batch = generated.map(ownThread);
      expect(await db.runs().importRuns(batch)).toEqual(batch.map(() => null));
      for (const run of batch) await expectStoredAsGiven(run);
      stored += batch.length;
    }),
    { numRuns: Math.ceil(RUNS / 4), seed: SEED },
  );
  expect(stored).toBeGreaterThanOrEqual(Math.ceil(RUNS / 4));
});

/** Property: any schema-valid run object of either version comes back from the store deep-equal, and as the same JSON text (key order included). */
import fc from 'fast-check';
import { toApiRun } from '../../src/api/mapping';
import { ThreadHasActiveRunError } from '../../src/errors';
import { asStored, asStoredText } from '../factories';
import { apiRunV1, apiRunV2 } from './arbitraries';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

const RUNS = Number(process.env.ARS_PROPERTY_RUNS ?? 400);

it(`${RUNS} generated runs of both versions survive importRun → getById → JSON unchanged, as text`, async () => {
  let stored = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(apiRunV2, apiRunV1), async (run) => {
      // Generated runs share few thread ids; the thread lock is not what this property is about.
      const unique = { ...run, thread_id: `${run.thread_id}#${stored}` };
      try {
        await db.runs().importRun(unique);
      } catch (error) {
        if (error instanceof ThreadHasActiveRunError) return;
        throw error;
      }
      stored += 1;
      const backText = JSON.stringify(toApiRun(await db.runs().getById(unique.id)));
      const back = JSON.parse(backText);
      expect(back).toEqual(asStored(unique));
      // generated metadata, parameters and schemas have their keys in any order: the text keeps it (the API's order at the top level)
      expect(backText).toBe(asStoredText(unique));
      // and the JSON of the entity itself is the same object
      expect(JSON.parse(JSON.stringify(await db.runs().getById(unique.id)))).toEqual(back);
    }),
    { numRuns: RUNS, seed: process.env.ARS_PROPERTY_SEED ? Number(process.env.ARS_PROPERTY_SEED) : undefined },
  );
  expect(stored).toBe(RUNS);
});

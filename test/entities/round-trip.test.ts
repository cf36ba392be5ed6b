import { toApiRun } from '../../src/api/mapping';
import type { ApiRun, ApiRunInput } from '../../src/api/types';
import { apiRunV1, apiRunV2, apiRunWithEveryPart, asStored, asStoredText, createInput, unsortedParts } from '../factories';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

/** Stores `run` with importRun, reads it back on a fresh unit of work, returns the API object. */
async function roundTrip(run: ApiRunInput): Promise<ApiRun> {
  await db.runs().importRun(run);
  const loaded = await db.runs().getById(run.id);
  return toApiRun(loaded);
}

describe('importRun → getById gives back the same object, as the same JSON text', () => {
  it('a v2 run with every key', async () => {
    const run = apiRunV2();
    const back = await roundTrip(run);
    expect(back).toEqual(run);
    expect(JSON.stringify(back)).toBe(JSON.stringify(run));
  });

  it('a v2 run whose metadata, function parameters and JSON schema are not in sorted key order', async () => {
    const run = apiRunV2(unsortedParts());
    expect(JSON.stringify(await roundTrip(run))).toBe(JSON.stringify(run));
  });

  it('a v1 run with every part, its parts unsorted: the API key order, file_ids last', async () => {
    const run = apiRunWithEveryPart(unsortedParts());
    expect(JSON.stringify(await roundTrip(run))).toBe(asStoredText(run));
  });

  it('a v1 run keeps file_ids (in order) and gets the newer keys as null / true', async () => {
    const run = apiRunV1();
    const back = await roundTrip(run);
    expect(back).toEqual(asStored(run));
    expect(JSON.stringify(back)).toBe(asStoredText(run));
    expect(back).toMatchObject({ usage: null, tool_choice: null, top_p: null, parallel_tool_calls: true });
    expect(back.file_ids).toEqual(['file-abc123', 'file-abc456']);
  });

  it('a run created by create has every v2 key and no file_ids', async () => {
    const run = await db.runs().create(createInput());
    const json = JSON.parse(JSON.stringify(await db.runs().getById(run.id)));
    expect(Object.keys(json).sort()).toEqual(Object.keys(apiRunV2()).sort());
    expect(json).toMatchObject({ status: 'queued', object: 'thread.run', truncation_strategy: { type: 'auto', last_messages: null } });
    expect(json.expires_at - json.created_at).toBe(600);
  });
});

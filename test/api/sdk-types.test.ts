/**
 * The contract with the official `openai` SDK's types. Most of it is checked by the compiler
 * (ts-jest type-checks this file, so an incompatible change fails the suite): the SDK's `Run`
 * is accepted by `importRun`, and a v2 run fits the SDK's `Run`.
 */
import type { Run } from 'openai/resources/beta/threads/runs/runs';
import { toApiRun } from '../../src/api/mapping';
import { isApiRunV2, type ApiRun, type ApiRunInput, type ApiRunV2 } from '../../src/api/types';
import type { RunRepository } from '../../src/repositories/run.repository';
import { apiRunV1, apiRunV2, createInput } from '../factories';
import { useTestDatabase } from '../support/test-database';

// Compile-time: each of these is a type error if the shapes drift apart.
export const sdkRunIsAnApiRunInput = (run: Run): ApiRunInput => run;
export const sdkRunGoesIntoImportRun = (repo: RunRepository, run: Run) => repo.importRun(run);
export const v2FitsTheSdk = (run: ApiRunV2): Run => run;
export const guardedFitsTheSdk = (run: ApiRun): Run | null => (isApiRunV2(run) ? run : null);

const db = useTestDatabase();

describe('the openai SDK types', () => {
  it('a run made by create is a v2 object the SDK type describes', async () => {
    const run = toApiRun(await db.runs().create(createInput({ instructions: 'be brief', tools: [{ type: 'code_interpreter' }] })));
    expect(isApiRunV2(run)).toBe(true);
    const sdk: Run | null = guardedFitsTheSdk(run);
    expect(sdk?.instructions).toBe('be brief');
  });

  it('a v1 object, or one with null instructions, is not claimed to fit', async () => {
    const v1 = toApiRun(await db.runs().importRun(apiRunV1()));
    expect(isApiRunV2(v1)).toBe(false);
    const nullInstructions = toApiRun(await db.runs().importRun(apiRunV2({ instructions: null })));
    expect(isApiRunV2(nullInstructions)).toBe(false);
  });

  it('an SDK-typed run is stored and comes back unchanged', async () => {
    const sdkRun: Run = v2FitsTheSdk({ ...apiRunV2(), instructions: 'x', tools: [{ type: 'file_search' }] } as ApiRunV2);
    await sdkRunGoesIntoImportRun(db.runs(), sdkRun);
    expect(toApiRun(await db.runs().getById(sdkRun.id))).toEqual(sdkRun);
  });
});

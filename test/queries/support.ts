/** Helpers of the list and aggregate tests: fast bulk storage of API runs, a query recorder. */
import type { EntityManager } from '@mikro-orm/postgresql';
import { fillRunFromApi } from '../../src/api/to-entities';
import type { ApiRun, ApiRunInput } from '../../src/api/types';
import { RunObject } from '../../src/entities/run-object.entity';

/** A run to store: the API object, plus the milliseconds kept below its `created_at` second. */
export interface SeedRun {
  api: ApiRun | ApiRunInput;
  /** 0–999: the store keeps ms for ordering, the API object shows the whole second. */
  ms?: number;
}

/** Stores the runs in one flush (batched inserts): what `importRun` stores, without a transaction per run. */
export async function storeRuns(em: EntityManager, runs: SeedRun[]): Promise<void> {
  for (const { api, ms = 0 } of runs) {
    const run = fillRunFromApi(new RunObject(), api);
    run.createdAt = new Date(api.created_at * 1000 + ms);
    em.persist(run);
  }
  await em.flush();
}

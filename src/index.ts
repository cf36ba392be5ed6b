import 'reflect-metadata';

export * from './entities';
export { RunRepository } from './repositories/run.repository';
export type { PurgeOptions } from './repositories/retention';
export { prepareRunImport, MAX_CREATED_AT_OFFSET_MS, type PreparedRunImport } from './repositories/writes';
export { runStoreConfig, runStoreEntities, runStoreMigrationsPath } from './config';
export type { RunStoreSettings } from './settings';
export { toApiRun } from './api/mapping';
export * from './api/types';
export {
  RunStoreError,
  RunNotFoundError,
  InvalidRunTransitionError,
  LeaseLostError,
  WaitAbortedError,
  ThreadHasActiveRunError,
  RunValidationError,
  InvalidListQueryError,
  RunStoreUnavailableError,
  type UnavailableReason,
  type ValidationIssue,
} from './errors';
export { toHttpError, RETRY_AFTER_SECONDS, type ApiError, type HttpErrorResponse } from './http/errors';
export { parseRunListQuery, LIST_QUERY_PARAMETERS, type QueryParameters } from './http/list-query';

/** Names of schema objects that the store's code refers to (no entity imports: any module may use them). */

/** The thread lock: at most one run per thread in an active status, a partial unique index. */
export const THREAD_ACTIVE_RUN_INDEX = 'run_object_thread_active_key';

/**
 * The setting by which the store's replace statement (`importRun` of a stored id) tells the status
 * trigger (`run_object_check_status`, migration 20261201092000) that it may set any status: the
 * statement sets it, transaction-locally, to its own `statement_timestamp()`.
 */
export const REPLACING_SETTING = 'assistants_run_store.replacing';

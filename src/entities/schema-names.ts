/** Names of schema objects that the store's code refers to (no entity imports: any module may use them). */

/** The thread lock: at most one run per thread in an active status, a partial unique index. */
export const THREAD_ACTIVE_RUN_INDEX = 'run_object_thread_active_key';

/**
 * The notification channels of the wake-ups (migration 20261201122000's `run_object_notify`
 * trigger): a run that became `queued` notifies the first, every other status change the second.
 * Constant in every schema: the payload names the run's schema (see `repositories/wakeups.ts`).
 */
export const QUEUED_CHANNEL = 'assistants_run_store:queued';
export const STATUS_CHANNEL = 'assistants_run_store:status';

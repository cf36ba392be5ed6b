/** Names of schema objects that the store's code refers to (no entity imports: any module may use them). */

/** The thread lock: at most one run per thread in an active status, a partial unique index. */
export const THREAD_ACTIVE_RUN_INDEX = 'run_object_thread_active_key';

listen "assistants_run_store:queued"; listen "assistants_run_store:status"


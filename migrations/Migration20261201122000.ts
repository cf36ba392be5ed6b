import { Migration } from '@mikro-orm/migrations';

/**
 * Wake-ups: every committed new run and every committed status change sends one PostgreSQL
 * notification (`pg_notify`, delivered only when the transaction commits; a rolled-back change
 * sends nothing), from any path — the store's statements, the ORM's flush, `nativeUpdate`, a
 * hand-written UPDATE. A run that is (again) `queued` notifies `assistants_run_store:queued` with
 * `{"schema", "id", "assistant_id", "model"}` (what a waiting worker filters on); any other status
 * notifies `assistants_run_store:status` with `{"schema", "id", "status"}`. A payload that would not
 * fit PostgreSQL's 8000-byte limit (ids longer than the API's, written past the store) goes without
 * its ids, which tells a listener to re-check everything it waits for: the write never fails for it.
 * The channel names are written out on purpose (migrations never import the code); a test compares
 * them with `src/entities/schema-names.ts`. Separate from the status guard (`run_object_check_status`),
 * which this migration does not touch; AFTER triggers, so a refused change sends nothing.
 */
export class Migration20261201122000 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create function "run_object_notify"() returns trigger language plpgsql as $$
declare
  payload text;
begin
  if new.status = 'queued' then
    payload := json_build_object('schema', tg_table_schema, 'id', new.id, 'assistant_id', new.assistant_id, 'model', new.model)::text;
    if octet_length(payload) > 7000 then
      payload := json_build_object('schema', tg_table_schema, 'id', null, 'assistant_id', null, 'model', null)::text;
    end if;
    perform pg_notify('assistants_run_store:queued', payload);
  else
    payload := json_build_object('schema', tg_table_schema, 'id', new.id, 'status', new.status)::text;
    if octet_length(payload) > 7000 then
      payload := json_build_object('schema', tg_table_schema, 'id', null, 'status', new.status)::text;
    end if;
    perform pg_notify('assistants_run_store:status', payload);
  end if;
  return null;
end;
$$;`);
    this.addSql(`create trigger "run_object_notify_insert" after insert on "run_object" for each row execute function "run_object_notify"();`);
    this.addSql(`create trigger "run_object_notify_status" after update of "status" on "run_object" for each row when (old.status is distinct from new.status) execute function "run_object_notify"();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "run_object_notify_status" on "run_object";`);
    this.addSql(`drop trigger if exists "run_object_notify_insert" on "run_object";`);
    this.addSql(`drop function if exists "run_object_notify"();`);
  }

}

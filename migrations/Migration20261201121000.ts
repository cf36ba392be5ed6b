import { Migration } from '@mikro-orm/migrations';

/**
 * A run's history and its tool outputs.
 *
 * - `run_status_change`: one row per status change, written by the trigger `run_object_record_status`
 *   (AFTER INSERT / AFTER UPDATE OF status), so by the same statement as the change, on every path
 *   (the store's statements, the ORM's flush, `nativeUpdate`, a hand-written UPDATE). Who made it
 *   (`actor`): a statement of the store declares itself in the transaction-local setting
 *   `assistants_run_store.actor` as `<actor>@<its statement_timestamp()>` (no other statement
 *   shares that time); the replace of `importRun` is `import` (its `assistants_run_store.replacing`
 *   setting); any other change is `caller`. `worker` is the run's `lease_owner` for actor `worker`.
 *   The time is `clock_timestamp()`, taken after the row lock, so a run's rows follow the order in
 *   which its changes committed (as do their ids: each is drawn while the run's row lock is held).
 * - `run_tool_output`: the tool calls a `submitToolOutputs` answered, with their outputs, written by
 *   that statement. A replace in place (`importRun` of a stored id) deletes the run's tool outputs
 *   (the run starts over as the object it was given), and keeps its status changes.
 * - `run_object_tool_outputs(run, attempt)`: the outputs submitted while the run was at `attempt`,
 *   in the order of their submits (their status changes), each submit's in the tool calls' order, for `claimNext` (VOLATILE, so it reads with a fresh snapshot, taken after the claim locked the run:
 *   a submit that committed after the claim's statement began is seen).
 * Both tables go with their run (on delete cascade). Runs stored before this migration have no
 * history before it.
 */
export class Migration20261201121000 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "run_tool_output" ("id" uuid not null, "run_id" text not null, "required_action_id" uuid not null, "attempt" int not null, "position" int not null, "call_id" text not null, "function_name" text not null, "function_arguments" text not null, "output" text not null, "submitted_at" timestamptz(3) not null, constraint "run_tool_output_pkey" primary key ("id"));`);
    this.addSql(`create index "run_tool_output_run_attempt_idx" on "run_tool_output" ("run_id", "attempt");`);
    this.addSql(`alter table "run_tool_output" add constraint "run_tool_output_action_position_key" unique ("run_id", "required_action_id", "position");`);

    this.addSql(`create table "run_status_change" ("id" bigserial primary key, "run_id" text not null, "from_status" text check ("from_status" in ('queued', 'in_progress', 'requires_action', 'cancelling', 'cancelled', 'failed', 'completed', 'incomplete', 'expired')) null, "to_status" text check ("to_status" in ('queued', 'in_progress', 'requires_action', 'cancelling', 'cancelled', 'failed', 'completed', 'incomplete', 'expired')) not null, "changed_at" timestamptz(3) not null, "actor" text check ("actor" in ('caller', 'worker', 'expiry', 'recovery', 'import')) not null, "worker" text null, "attempt" int not null, "required_action_id" uuid null);`);
    this.addSql(`create index "run_status_change_run_idx" on "run_status_change" ("run_id", "id");`);

    this.addSql(`alter table "run_tool_output" add constraint "run_tool_output_run_id_foreign" foreign key ("run_id") references "run_object" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "run_status_change" add constraint "run_status_change_run_id_foreign" foreign key ("run_id") references "run_object" ("id") on update cascade on delete cascade;`);

    this.addSql(`create function "run_object_record_status"() returns trigger language plpgsql as $$
declare
  stamp text := statement_timestamp()::text;
  declared text := coalesce(current_setting('assistants_run_store.actor', true), '');
  replacing boolean := current_setting('assistants_run_store.replacing', true) is not distinct from stamp;
  made_by text := 'caller';
begin
  if tg_op = 'UPDATE' and replacing then
    delete from "run_tool_output" where "run_id" = old."id";
  end if;
  if tg_op = 'UPDATE' and new."status" = old."status" then
    return null;
  end if;
  if replacing then
    made_by := 'import';
  elsif split_part(declared, '@', 2) = stamp then
    made_by := split_part(declared, '@', 1);
  end if;
  insert into "run_status_change" ("run_id", "from_status", "to_status", "changed_at", "actor", "worker", "attempt", "required_action_id")
  values (
    new."id",
    case when tg_op = 'UPDATE' then old."status" end,
    new."status",
    clock_timestamp(),
    made_by,
    case when made_by = 'worker' then new."lease_owner" end,
    new."attempt",
    case when tg_op = 'UPDATE' and old."status" = 'requires_action' then old."required_action_id" end
  );
  return null;
end;
$$;`);
    this.addSql(`create trigger "run_object_record_status" after insert or update of "status" on "run_object" for each row execute function "run_object_record_status"();`);

    this.addSql(`create function "run_object_tool_outputs"(p_run text, p_attempt int) returns json language plpgsql volatile as $$
begin
  return (
    select coalesce(json_agg(json_build_object('id', o."call_id", 'type', 'function', 'function',
             json_build_object('name', o."function_name", 'arguments', o."function_arguments", 'output', o."output"))
           order by (select h."id" from "run_status_change" h where h."run_id" = o."run_id" and h."required_action_id" = o."required_action_id"), o."position"), '[]'::json)
    from "run_tool_output" o where o."run_id" = p_run and o."attempt" = p_attempt
  );
end;
$$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "run_object_tool_outputs"(text, int);`);
    this.addSql(`drop trigger if exists "run_object_record_status" on "run_object";`);
    this.addSql(`drop function if exists "run_object_record_status"();`);
    this.addSql(`drop table if exists "run_tool_output" cascade;`);
    this.addSql(`drop table if exists "run_status_change" cascade;`);
  }

}

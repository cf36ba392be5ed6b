import { StoreMigration } from '../src/store-migration';

/**
 * The lifecycle in the database: a status change that the transition table (src/lifecycle/
 * transitions.ts) does not list is refused, from any path — the ORM's flush, `nativeUpdate`, a
 * hand-written UPDATE — with SQLSTATE RS001 (the store maps it to `InvalidRunTransitionError`).
 * The one exception is the store's own replacement of a run by `importRun` (a mirror takes the
 * status it is given): that statement sets `assistants_run_store.replacing` to its own
 * `statement_timestamp()`, which no later statement of the transaction shares.
 * The pairs are written out here on purpose (migrations never import the code); a test compares
 * them with the table.
 */
export class Migration20261201092000 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`create function "run_object_check_status"() returns trigger language plpgsql as $$
begin
  if new.status = old.status then
    return new;
  end if;
  -- a value that is no status at all is the CHECK constraint's to refuse (after this trigger)
  if new.status not in ('queued', 'in_progress', 'requires_action', 'cancelling', 'cancelled', 'failed', 'completed', 'incomplete', 'expired') then
    return new;
  end if;
  if current_setting('assistants_run_store.replacing', true) = statement_timestamp()::text then
    return new;
  end if;
  if old.status || '>' || new.status in (
    'queued>in_progress', 'queued>failed', 'queued>cancelled', 'queued>expired',
    'in_progress>requires_action', 'in_progress>completed', 'in_progress>failed', 'in_progress>incomplete', 'in_progress>cancelling', 'in_progress>expired',
    'requires_action>queued', 'requires_action>cancelled', 'requires_action>expired',
    'cancelling>cancelled', 'cancelling>completed', 'cancelling>failed', 'cancelling>incomplete', 'cancelling>expired'
  ) then
    return new;
  end if;
  raise exception 'illegal run status change'
    using errcode = 'RS001', detail = old.status || ' ' || new.status || ' ' || old.id, table = 'run_object', column = 'status';
end;
$$;`);
    this.addSql(`create trigger "run_object_check_status" before update of "status" on "run_object" for each row execute function "run_object_check_status"();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "run_object_check_status" on "run_object";`);
    this.addSql(`drop function if exists "run_object_check_status"();`);
  }

}

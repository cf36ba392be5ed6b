import { StoreMigration } from '../src/store-migration';

/**
 * Workers' leases: the run's owner, the lease's expiry and the attempt number (the fencing token),
 * the partial index that `recoverLapsed` scans, and the status guard of Migration20261201092000
 * with the one status change recovery adds (`in_progress>queued`, the `recover` row of the
 * transition table). The pairs are written out on purpose (migrations never import the code).
 */
export class Migration20261201094551 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`alter table "run_object" add column "lease_owner" text null, add column "lease_expires_at" timestamptz(3) null, add column "attempt" int not null default 0;`);
    this.addSql(`create index "run_object_lease_expires_idx" on "run_object" ("lease_expires_at") where "status" in ('in_progress', 'cancelling') and "lease_expires_at" is not null;`);
    this.addSql(`create or replace function "run_object_check_status"() returns trigger language plpgsql as $$
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
    'in_progress>queued',
    'requires_action>queued', 'requires_action>cancelled', 'requires_action>expired',
    'cancelling>cancelled', 'cancelling>completed', 'cancelling>failed', 'cancelling>incomplete', 'cancelling>expired'
  ) then
    return new;
  end if;
  raise exception 'illegal run status change'
    using errcode = 'RS001', detail = old.status || ' ' || new.status || ' ' || old.id, table = 'run_object', column = 'status';
end;
$$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`create or replace function "run_object_check_status"() returns trigger language plpgsql as $$
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
    this.addSql(`drop index "run_object_lease_expires_idx";`);
    this.addSql(`alter table "run_object" drop column "lease_owner", drop column "lease_expires_at", drop column "attempt";`);
  }

}

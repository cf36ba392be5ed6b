/**
 * The base of the package's migrations: MikroORM's `Migration`, with the store's tables put in the
 * schema the service configured (MikroORM's `schema` option, or `MIKRO_ORM_SCHEMA`). The migrations'
 * SQL names its tables unqualified (as MikroORM generates it), so each migration runs with
 * `set local search_path to "<schema>"` first — what MikroORM 7's `migrations.schema` does — inside
 * its transaction, so it ends with it and never stays on a pooled connection. Without a schema (or
 * with `public`) the migrations send exactly the SQL they always sent. MikroORM keeps its table of
 * applied migrations in that schema too (its MigrationStorage follows the `schema` option).
 *
 * A search path that lasts one transaction needs the migration to run in one: with a schema, a
 * non-transactional run (`migrations.transactional: false`) is refused with a `RunValidationError`
 * on `migrations.transactional`, before any of its SQL is sent (it would land in the default schema).
 */
import { Migration } from '@mikro-orm/migrations';
import { quotedSchema } from './entities/schema-names';
import { RunValidationError } from './errors';

export abstract class StoreMigration extends Migration {
  override getQueries(): ReturnType<Migration['getQueries']> {
    const queries = super.getQueries();
    const schema = quotedSchema(this.config.get('schema'));
    if (schema === null) return queries;
    if (this.ctx === undefined) {
      throw RunValidationError.of('migrations.transactional', 'must be true when the store\'s tables are in a schema (the search path lasts one transaction)');
    }
    return [`set local search_path to ${schema}`, ...queries];
  }
}

import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm } from '../command';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: "apply the package's migrations to DATABASE_URL (run it at deploy)",
  help: `Usage: assistants-run-store migrate [options]

Applies the package's own migrations (recorded in the table run_store_migrations) that the
database does not have yet, in one transaction; creates the database first if it does not exist.
Safe to run on every deploy.

Options:
${COMMON_HELP}`,
  async run(argv) {
    const { values } = parseFlags(argv, {});
    if (values.help) return help(this);
    return withOrm(values, { requireSchema: false, createDatabase: true }, async (orm) => {
      const migrator = orm.getMigrator();
      const pending = await migrator.getPendingMigrations();
      if (pending.length === 0) {
        const done = await migrator.getExecutedMigrations();
        console.log(`nothing to apply: the database is up to date (${done.length} migration${done.length === 1 ? '' : 's'} applied)`);
        return 0;
      }
      const started = Date.now();
      await migrator.up();
      console.log(`applied ${pending.length} migration${pending.length === 1 ? '' : 's'} in ${Date.now() - started} ms: ${pending.map((m) => m.name).join(', ')}`);
      return 0;
    });
  },
};

export function help(command: Command): number {
  console.log(command.help);
  return 0;
}

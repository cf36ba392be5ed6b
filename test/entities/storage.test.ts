/** How a run is stored: bounded reads, owned parts that never outlive their run, reversible migrations. */
import { MikroORM } from '@mikro-orm/postgresql';
import { toApiRun } from '../../src/api/mapping';
import { runStoreConfig } from '../../src/config';
import { RunObject } from '../../src/entities/run-object.entity';
import { RunUsage } from '../../src/entities/parts.entity';
import { apiRunV2, apiRunWithEveryPart, asStored, toolCall } from '../factories';
import { recordingOrm } from '../support/recording-orm';
import { countAllRows, RUN_STORE_TABLES } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

const fullRun = () => apiRunWithEveryPart();

describe('reading a run with all its parts', () => {
  it('costs a fixed number of statements, whatever the number of tools, files and tool calls', async () => {
    const { orm, statements } = await recordingOrm(db);
    const counts: number[] = [];
    for (const size of [1, 5, 20]) {
      const run = fullRun();
      run.tools = Array.from({ length: size }, () => ({ type: 'code_interpreter' as const }));
      run.file_ids = Array.from({ length: size * 3 }, (_, i) => `file-${i}`);
      run.required_action!.submit_tool_outputs.tool_calls = Array.from({ length: size }, (_, i) => toolCall(i));
      await db.runs().importRun(run);
      statements.length = 0;
      const loaded = await orm.em.fork().getRepository(RunObject).getById(run.id);
      counts.push(statements.length);
      expect(toApiRun(loaded)).toEqual(asStored(run));
    }
    // bounded: the same small number of statements for every size (no N+1)
    expect(new Set(counts).size).toBe(1);
    expect(counts[0]).toBeLessThanOrEqual(4);
  });
});

describe('owned parts', () => {
  it('deleting a run through the ORM leaves no row of it anywhere', async () => {
    const before = await countAllRows(db);
    const run = fullRun();
    await db.runs().importRun(run);
    const em = db.em();
    em.remove(await em.getRepository(RunObject).getById(run.id));
    await em.flush();
    expect(await countAllRows(db)).toEqual(before);
  });

  it('deleting runs with plain SQL leaves no row of them anywhere', async () => {
    const before = await countAllRows(db);
    const runs = [fullRun(), fullRun(), apiRunV2()];
    for (const run of runs) await db.runs().importRun(run);
    await db.sql('delete from run_object where id = any($1)', [runs.map((r) => r.id)]);
    expect(await countAllRows(db)).toEqual(before);
  });

  it('replacing a part through the ORM removes the old row', async () => {
    const run = apiRunV2({ status: 'completed', completed_at: 1_716_000_100, expires_at: null, usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
    await db.runs().importRun(run);
    const before = await countAllRows(db);
    const em = db.em();
    const loaded = await em.getRepository(RunObject).getById(run.id);
    const oldUsageId = loaded.usage!.id;
    const usage = new RunUsage();
    Object.assign(usage, { promptTokens: 10, completionTokens: 20, totalTokens: 30 });
    loaded.usage = usage;
    await em.flush();
    expect(await countAllRows(db)).toEqual(before);
    expect(await db.sql('select 1 from run_usage where id = $1', [oldUsageId])).toHaveLength(0);
    expect(toApiRun(await db.runs().getById(run.id)).usage).toEqual({ prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 });
  });

  it('a part cannot be shared by two runs, and every enum is enforced by the database', async () => {
    const run = apiRunV2({ usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
    await db.runs().importRun(run);
    const [{ usage_id }] = await db.sql<{ usage_id: string }>('select usage_id from run_object where id = $1', [run.id]);
    await expect(db.sql(`update run_object set usage_id = $1 where id <> $2`, [usage_id, run.id])).rejects.toThrow(/unique/);
    await expect(db.sql(`update run_object set status = 'running' where id = $1`, [run.id])).rejects.toThrow(/check constraint/);
    await expect(db.sql(`insert into run_last_error (id, code, message) values (gen_random_uuid(), 'oops', 'm')`)).rejects.toThrow(/check constraint/);
    await expect(db.sql(`insert into run_tool (id, run_id, position, type) values (gen_random_uuid(), $1, 9, 'browser')`, [run.id])).rejects.toThrow(/check constraint/);
    await expect(db.sql(`insert into run_tool_choice (id, mode, type) values (gen_random_uuid(), 'auto', 'function')`)).rejects.toThrow(/check constraint/);
    await expect(db.sql(`update run_object set object = 'thread' where id = $1`, [run.id])).rejects.toThrow(/check constraint/);
  });
});

describe('migrations', () => {
  it('down and up again on a database that holds runs', async () => {
    const runs = [fullRun(), apiRunV2()];
    for (const run of runs) await db.runs().importRun(run);
    const orm = await MikroORM.init(runStoreConfig({ clientUrl: db.url, migrations: { silent: true } }));
    try {
      const migrator = orm.getMigrator();
      const applied = await migrator.getExecutedMigrations();
      expect(applied.length).toBeGreaterThan(0);
      await migrator.down({ to: 0 });
      const left = await db.sql<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = 'public' and table_name like 'run\\_%'`);
      expect(left.map((t) => t.table_name).filter((t) => (RUN_STORE_TABLES as readonly string[]).includes(t))).toEqual([]);
      await migrator.up();
      expect(await migrator.getPendingMigrations()).toEqual([]);
      expect(await migrator.checkMigrationNeeded()).toBe(false);
    } finally {
      await orm.close(true);
    }
    // the schema works again: store and read back
    for (const run of runs) await db.runs().importRun(run);
    expect(toApiRun(await db.runs().getById(runs[1].id))).toEqual(runs[1]);
  });
});

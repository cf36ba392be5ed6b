/**
 * JSON comes back as it went in, key order included: metadata, a function's `parameters`,
 * `file_search` options and a `json_schema` are stored as `json` (text), not `jsonb` (sorted keys).
 * Every write path and every read path is compared as serialised text, not as deep equality.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { toApiRun } from '../../src/api/mapping';
import type { ApiRun, ApiRunInput } from '../../src/api/types';
import { runStoreConfig } from '../../src/config';
import { createDatabase, dropDatabase, uniqueDatabaseName, withDatabase } from '../../src/dev/databases';
import { RUN_POPULATE, RunObject } from '../../src/entities/run-object.entity';
import { RunTool } from '../../src/entities/collections.entity';
import { write } from '../../src/repositories/executor';
import { appendApiRunRows, emptyRows, insertRowsStatement } from '../../src/sql/insert-graph';
import { apiRunV2, createInput, toolCall, uid, unsortedParts } from '../factories';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

const text = (run: RunObject): string => JSON.stringify(toApiRun(run));

/** An imported run (queued, not yet due) with the unsorted parts. */
const orderedRun = (overrides: Partial<ApiRun> = {}): ApiRun =>
  apiRunV2({ ...unsortedParts(), created_at: 1_900_000_000, expires_at: 4_000_000_000, ...overrides });

/** `run` with the values of `changed` taken from `back` (keys stay where `run` has them): what a move gives back. */
function moved(run: ApiRun, back: RunObject, changed: readonly (keyof ApiRun)[]): string {
  const api = toApiRun(back);
  const expected: Record<string, unknown> = { ...run };
  for (const key of changed) expected[key] = api[key];
  return JSON.stringify(expected);
}

/** The four `json` columns of a stored run, as the text PostgreSQL holds. */
async function storedText(runId: string): Promise<{ metadata: string | null; function: string | null; file_search: string | null; json_schema: string | null }> {
  const [row] = await db.sql<{ metadata: string | null; function: string | null; file_search: string | null; json_schema: string | null }>(
    `select r.metadata::text as metadata,
            (select t.function::text from run_tool t where t.run_id = r.id and t.type = 'function') as function,
            (select t.file_search::text from run_tool t where t.run_id = r.id and t.type = 'file_search') as file_search,
            (select p.json_schema::text from run_response_format p where p.id = r.response_format_id) as json_schema
       from run_object r where r.id = $1`,
    [runId],
  );
  return row;
}

/** What `storedText` must be for a run whose parts are `parts`: each value's `JSON.stringify`, byte for byte. */
function textOfParts(parts: Pick<ApiRun, 'tools' | 'metadata' | 'response_format'>) {
  const tool = (type: string) => parts.tools.find((t) => t.type === type) as Record<string, unknown> | undefined;
  const format = parts.response_format as { json_schema?: unknown } | null;
  return {
    metadata: parts.metadata === null ? null : JSON.stringify(parts.metadata),
    function: tool('function') ? JSON.stringify(tool('function')!.function) : null,
    file_search: tool('file_search')?.file_search ? JSON.stringify(tool('file_search')!.file_search) : null,
    json_schema: format?.json_schema ? JSON.stringify(format.json_schema) : null,
  };
}

describe('the fixtures really are out of jsonb order', () => {
  it('jsonb gives each open-ended part back reordered; json gives its text back', async () => {
    const parts = unsortedParts();
    const fn = parts.tools[0] as Extract<ApiRun['tools'][number], { type: 'function' }>;
    const format = parts.response_format as { json_schema: { schema: unknown } };
    for (const value of [parts.metadata, fn.function.parameters, format.json_schema.schema]) {
      const given = JSON.stringify(value);
      const [row] = await db.sql<{ viaJsonb: string; viaJson: string }>(`select $1::jsonb::text as "viaJsonb", $2::json::text as "viaJson"`, [given, given]);
      expect(JSON.stringify(JSON.parse(row.viaJsonb))).not.toBe(given);
      expect(row.viaJson).toBe(given);
    }
  });
});

describe('every write keeps the key order', () => {
  it('importRun: the returned run, a fresh read and the stored text', async () => {
    const run = orderedRun();
    expect(text(await db.runs().importRun(run))).toBe(JSON.stringify(run));
    expect(text(await db.runs().getById(run.id))).toBe(JSON.stringify(run));
    expect(await storedText(run.id)).toEqual(textOfParts(run));
  });

  it('importRun replacing a stored run keeps the new order', async () => {
    const run = orderedRun();
    await db.runs().importRun(run);
    const again = { ...run, metadata: { y: 'second', x: 'first' } };
    expect(text(await db.runs().importRun(again))).toBe(JSON.stringify(again));
    expect(text(await db.runs().getById(run.id))).toBe(JSON.stringify(again));
  });

  it('create: the created run and a fresh read give the parts back as given', async () => {
    const input = createInput(unsortedParts());
    const created = await db.runs().create(input);
    const partsOf = (api: ApiRun) => JSON.stringify([api.tools, api.metadata, api.response_format]);
    const given = JSON.stringify([input.tools, input.metadata, input.response_format]);
    expect(partsOf(toApiRun(created))).toBe(given);
    expect(partsOf(toApiRun(await db.runs().getById(created.id)))).toBe(given);
    expect(await storedText(created.id)).toEqual(textOfParts(unsortedParts()));
  });

  it('importRuns: every run of one batch statement, each with its own order', async () => {
    const batch = [
      orderedRun(),
      orderedRun({ metadata: { k2: 'v', k1: 'v', k0: 'v' } }),
      orderedRun({ metadata: null, tools: [], response_format: { type: 'json_object' } }),
    ];
    expect(await db.runs().importRuns(batch)).toEqual([null, null, null]);
    for (const run of batch) {
      expect(text(await db.runs().getById(run.id))).toBe(JSON.stringify(run));
      expect(await storedText(run.id)).toEqual(textOfParts(run));
    }
  });

  it('the batch statement writes each json column as the text it was sent (file_search options included)', async () => {
    // Validation gives file_search options in one fixed order; the column keeps any order it is sent.
    const run = orderedRun({
      tools: [{ type: 'file_search', file_search: { ranking_options: { score_threshold: 0.5, ranker: 'auto' }, max_num_results: 3 } } as never],
    });
    const rows = emptyRows();
    appendApiRunRows(rows, run as ApiRunInput);
    await write(db.em(), insertRowsStatement(rows));
    expect(await storedText(run.id)).toEqual(textOfParts(run));
    expect(text(await db.runs().getById(run.id))).toBe(JSON.stringify(run));
  });

  it('quotes, backslashes, control characters and non-ASCII text inside the parts come back byte for byte', async () => {
    const odd = 'a "quoted" \\ back\\slash, line\nbreak\u2028 tab\t ctl\u0001\u001f é 😀';
    const run = orderedRun({
      metadata: { 'q"uote': odd, 'back\\slash': '\\', nl: '\n', 'ü': 'ü' },
      tools: [{ type: 'function', function: { name: 'f', description: odd, parameters: { z: { [odd]: odd }, a: [odd, '\\u0000 as text'] } } }],
    });
    expect(await db.runs().importRuns([run])).toEqual([null]);
    expect(await storedText(run.id)).toEqual(textOfParts(run));
    expect(text(await db.runs().getById(run.id))).toBe(JSON.stringify(run));
  });

  it("the ORM's own flush writes a changed part in the order given", async () => {
    const run = orderedRun();
    await db.runs().importRun(run);
    const em = db.em();
    const loaded = await em.getRepository(RunObject).getById(run.id);
    const parameters = { type: 'object', properties: { z: { type: 'string' }, a: { type: 'string' } } };
    loaded.metadata = { second: '2', first: '1' };
    const fn = loaded.tools.getItems().find((t: RunTool) => t.type === 'function')!;
    fn.function = { name: 'get_weather', parameters };
    await em.flush();
    const back = toApiRun(await db.runs().getById(run.id));
    expect(JSON.stringify(back.metadata)).toBe('{"second":"2","first":"1"}');
    expect(JSON.stringify(back.tools[0])).toBe(JSON.stringify({ type: 'function', function: { name: 'get_weather', parameters } }));
  });
});

describe('every read keeps the key order', () => {
  const assistant = uid('asst');
  const thread = uid('thread');
  const runs = [
    orderedRun({ assistant_id: assistant, thread_id: thread, status: 'completed', completed_at: 1_900_000_010, expires_at: null }),
    orderedRun({ assistant_id: assistant, thread_id: thread, status: 'failed', failed_at: 1_900_000_020, expires_at: null, created_at: 1_900_000_001 }),
  ];

  beforeAll(async () => {
    expect(await db.runs().importRuns(runs)).toEqual([null, null]);
  });

  it('findById and getById', async () => {
    for (const run of runs) {
      expect(text((await db.runs().findById(run.id))!)).toBe(JSON.stringify(run));
      expect(text(await db.runs().getById(run.id))).toBe(JSON.stringify(run));
    }
  });

  it('list pages by thread, assistant and status', async () => {
    const expected = JSON.stringify([...runs].reverse());
    const page = async (list: Promise<{ data: RunObject[] }>) => JSON.stringify((await list).data.map(toApiRun));
    expect(await page(db.runs().listByThread(thread))).toBe(expected);
    expect(await page(db.runs().listByAssistant(assistant))).toBe(expected);
    const byStatus = await db.runs().listByStatus(['completed', 'failed'], { limit: 100 });
    const mine = byStatus.data.filter((r) => r.assistantId === assistant).map(toApiRun);
    expect(JSON.stringify(mine)).toBe(expected);
  });

  it("the ORM's own load (populate)", async () => {
    const loaded = await db.em().findOneOrFail(RunObject, runs[0].id, { populate: RUN_POPULATE });
    expect(text(loaded)).toBe(JSON.stringify(runs[0]));
  });
});

describe('every move returns the run with its key order', () => {
  it('claimNext, requireAction, submitToolOutputs, start, complete, and updateMetadata', async () => {
    const run = orderedRun({ assistant_id: uid('asst') });
    await db.runs().importRun(run);
    const claimed = (await db.runs().claimNext({ assistant_id: run.assistant_id }))!;
    expect(text(claimed)).toBe(moved(run, claimed, ['status', 'started_at', 'expires_at']));
    const asked = await db.runs().requireAction(run.id, [toolCall(1, '{"b":1,"a":2}')]);
    expect(text(asked)).toBe(moved(run, asked, ['status', 'started_at', 'expires_at', 'required_action']));
    expect(JSON.stringify(toApiRun(asked).required_action!.submit_tool_outputs.tool_calls[0].function.arguments)).toBe(JSON.stringify('{"b":1,"a":2}'));
    const answered = await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'ok' }]);
    expect(text(answered)).toBe(moved(run, answered, ['status', 'started_at', 'expires_at']));
    const started = await db.runs().start(run.id);
    expect(text(started)).toBe(moved(run, started, ['status', 'started_at', 'expires_at']));
    const completed = await db.runs().complete(run.id, { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
    expect(text(completed)).toBe(moved(run, completed, ['status', 'started_at', 'expires_at', 'completed_at', 'usage']));
    const done = toApiRun(completed);

    const metadata = { zz: 'last', aa: 'first', mm: '' };
    const updated = await db.runs().updateMetadata(run.id, metadata);
    expect(text(updated)).toBe(JSON.stringify({ ...done, metadata }));
    expect(text(await db.runs().getById(run.id))).toBe(JSON.stringify({ ...done, metadata }));
    expect((await storedText(run.id)).metadata).toBe(JSON.stringify(metadata));
  });
});

describe('the migration to json columns', () => {
  const JSON_MIGRATION = 'Migration20261201094735';
  const adminUrl = process.env.ARS_TEST_ADMIN_URL!;
  const name = uniqueDatabaseName('ars_json_migration');
  let orm: MikroORM;

  beforeAll(async () => {
    await createDatabase(adminUrl, name);
    orm = await MikroORM.init(runStoreConfig({ clientUrl: withDatabase(adminUrl, name), migrations: { silent: true } }));
  });
  afterAll(async () => {
    await orm?.close(true);
    await dropDatabase(adminUrl, name);
  });

  const columnTypes = async () =>
    (
      await orm.em.getConnection().execute<{ column: string; type: string }[]>(
        `select table_name || '.' || column_name as "column", data_type as "type" from information_schema.columns
          where table_schema = 'public' and data_type in ('json', 'jsonb') order by 1`,
      )
    ).map((r) => `${r.column} ${r.type}`);
  const jsonColumns = (type: string) => ['run_object.metadata', 'run_response_format.json_schema', 'run_tool.file_search', 'run_tool.function'].map((c) => `${c} ${type}`);

  it('converts stored rows (their order was already lost), and down converts back', async () => {
    const migrator = orm.getMigrator();
    const all = (await migrator.getPendingMigrations()).map((m) => m.name);
    const before = all[all.indexOf(JSON_MIGRATION) - 1];
    await migrator.up({ to: before });
    expect(await columnTypes()).toEqual(jsonColumns('jsonb'));
    const old = orderedRun();
    await orm.em.fork().getRepository(RunObject).importRun(old);
    const sortedBefore = text(await orm.em.fork().getRepository(RunObject).getById(old.id));
    expect(sortedBefore).not.toBe(JSON.stringify(old)); // jsonb sorted it on the way in

    await migrator.up();
    expect(await columnTypes()).toEqual(jsonColumns('json'));
    const converted = await orm.em.fork().getRepository(RunObject).getById(old.id);
    expect(toApiRun(converted)).toEqual(old); // the same values…
    expect(text(converted)).toBe(sortedBefore); // …in the order jsonb had left them
    const fresh = orderedRun();
    await orm.em.fork().getRepository(RunObject).importRun(fresh);
    expect(text(await orm.em.fork().getRepository(RunObject).getById(fresh.id))).toBe(JSON.stringify(fresh));
    expect(await migrator.checkMigrationNeeded()).toBe(false);

    await migrator.down({ to: JSON_MIGRATION }); // it and every later migration
    expect(await columnTypes()).toEqual(jsonColumns('jsonb'));
    for (const run of [old, fresh]) expect(toApiRun(await orm.em.fork().getRepository(RunObject).getById(run.id))).toEqual(run);
    await migrator.up();
    expect(await columnTypes()).toEqual(jsonColumns('json'));
  });
});

describe('the fixed-shape objects around the schemas keep the order given too', () => {
  /** The parts with every small object's keys in an order that is not the schema's (the official docs' order). */
  const officialOrder = (): Pick<ApiRun, 'tools' | 'metadata' | 'response_format'> => ({
    tools: [
      { type: 'function', function: { description: 'Weather at a place', name: 'get_weather', strict: true, parameters: { type: 'object', properties: {} } } },
      { file_search: { ranking_options: { score_threshold: 0.25, ranker: 'auto' }, max_num_results: 7 }, type: 'file_search' },
    ],
    metadata: {},
    response_format: { json_schema: { strict: true, schema: { type: 'object' }, description: 'the reply', name: 'answer' }, type: 'json_schema' },
  });
  const expectedText = (parts: ReturnType<typeof officialOrder>) =>
    // the tool's and the format's own `type` key are rebuilt from columns (the schema's order); what is stored whole keeps the caller's
    JSON.stringify({
      tools: [{ type: 'function', function: parts.tools[0].type === 'function' ? parts.tools[0].function : null }, { type: 'file_search', file_search: (parts.tools[1] as { file_search: unknown }).file_search }],
      response_format: { type: 'json_schema', json_schema: (parts.response_format as { json_schema: unknown }).json_schema },
    });
  const textOf = (api: ApiRun) => JSON.stringify({ tools: api.tools, response_format: api.response_format });

  it('through importRun, importRuns and create', async () => {
    const parts = officialOrder();
    const imported = await db.runs().importRun(orderedRun(parts));
    expect(textOf(toApiRun(await db.runs().getById(imported.id)))).toBe(expectedText(parts));
    const batch = orderedRun(parts);
    expect(await db.runs().importRuns([batch])).toEqual([null]);
    expect(textOf(toApiRun(await db.runs().getById(batch.id)))).toBe(expectedText(parts));
    const created = await db.runs().create(createInput({ tools: parts.tools, response_format: parts.response_format }));
    expect(textOf(toApiRun(await db.runs().getById(created.id)))).toBe(expectedText(parts));
  });
});

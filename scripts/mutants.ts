/**
 * `npm run mutants` (issue 16): applies each mutation of test/mutants/mutants.json, one at a time,
 * to a throwaway copy of the repository and runs the test files that must kill it there; reports
 * each mutant as killed or survived. Not part of `npm test`.
 *
 *   npm run mutants                      every mutant
 *   npm run mutants -- --only ID[,ID…]   only these (repeatable)
 *   npm run mutants -- --tests F[,F…]    these test files instead of each mutant's own (to find
 *                                        which files kill a mutant, before listing them)
 *
 * The copy holds the files `git ls-files` names (tracked, and untracked ones not ignored, as they
 * are on disk) in a temporary folder, with `node_modules` linked to this one's; it is removed at
 * the end. Before any mutant, the selected mutants' test files must pass on the unmutated copy (so
 * that a kill means the mutation was caught); a mutant's `testNamePattern` keeps only the tests of
 * its files whose names match. A mutant is killed when at least one of its tests
 * fails; a test file that cannot run at all (it does not compile, the global setup fails) is an
 * error, not a kill. A mutant whose `find` text does not occur exactly once in its file is stale:
 * nothing runs and the harness fails. A mutant marked `equivalent` (with the reason no test can
 * tell it from the code) is checked for staleness and listed, not run. Exit status 0 only when
 * every other selected mutant was killed.
 *
 * The tests run against DATABASE_URL (default: the local server,
 * postgresql://postgres@127.0.0.1:5432/postgres), as `npm test` does.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const LIST = path.join(ROOT, 'test', 'mutants', 'mutants.json');
const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
/** Fails on every edit of a statement's text, so it would "kill" every SQL mutant: never a judge. */
const SNAPSHOT_TEST = 'test/sql/statements.test.ts';
/** One jest run (a mutant's files) that takes longer than this is stopped and reported as an error. */
const RUN_TIMEOUT_MS = 5 * 60_000;

interface Mutant {
  id: string;
  description: string;
  file: string;
  find: string;
  replace: string;
  tests: string[];
  /** Only the tests of those files whose full name matches (jest's `--testNamePattern`), to skip slow ones that do not judge it. */
  testNamePattern?: string;
  /**
   * Why no test can tell this mutant from the code (it behaves the same in every run): such a
   * mutant is not run, only checked for staleness and listed with its reason.
   */
  equivalent?: string;
}

type Verdict = 'killed' | 'survived' | 'error';

interface Outcome {
  verdict: Verdict;
  failed: number;
  total: number;
  /** The test files with a failing test. */
  killers?: string[];
  /** The first failing test's name, or what went wrong. */
  note: string;
  ms: number;
}

function fail(message: string): never {
  process.stderr.write(`mutants: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv: string[]): { only: string[]; tests: string[] } {
  const only: string[] = [];
  const tests: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--only') {
      const value = argv[++i];
      if (!value) fail('--only needs a mutant id');
      only.push(...value.split(',').filter(Boolean));
    } else if (arg === '--tests') {
      const value = argv[++i];
      if (!value) fail('--tests needs test files');
      tests.push(...value.split(',').filter(Boolean));
    } else {
      fail(`unknown argument '${arg}' (usage: npm run mutants [-- --only ID[,ID…]] [--tests FILE[,FILE…]])`);
    }
  }
  return { only, tests };
}

function checkTestFile(where: string, test: string): void {
  if (test === SNAPSHOT_TEST) fail(`${where}: ${SNAPSHOT_TEST} fails on every SQL edit and cannot judge a mutant`);
  if (!test.endsWith('.test.ts') || !existsSync(path.join(ROOT, test))) fail(`${where}: no test file ${test}`);
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The committed list, checked: every field present, ids unique, files and tests existing. */
function loadMutants(): Mutant[] {
  const raw = JSON.parse(readFileSync(LIST, 'utf8')) as unknown;
  if (!Array.isArray(raw)) fail(`${path.relative(ROOT, LIST)} must hold an array`);
  const seen = new Set<string>();
  return raw.map((entry: Record<string, unknown>, index) => {
    const where = `mutant #${index} (${String(entry?.id)})`;
    for (const key of ['id', 'description', 'file', 'find'] as const) if (!isString(entry?.[key])) fail(`${where}: '${key}' must be a non-empty string`);
    if (typeof entry.replace !== 'string') fail(`${where}: 'replace' must be a string`);
    if (entry.replace === entry.find) fail(`${where}: 'replace' equals 'find'`);
    if (entry.equivalent !== undefined && !isString(entry.equivalent)) fail(`${where}: 'equivalent' must say why`);
    if (entry.testNamePattern !== undefined && !isString(entry.testNamePattern)) fail(`${where}: 'testNamePattern' must be a non-empty string`);
    if (!Array.isArray(entry.tests) || entry.tests.length === 0 || !entry.tests.every(isString)) fail(`${where}: 'tests' must list test files`);
    const mutant = entry as unknown as Mutant;
    if (seen.has(mutant.id)) fail(`${where}: duplicate id`);
    seen.add(mutant.id);
    if (!existsSync(path.join(ROOT, mutant.file))) fail(`${where}: no file ${mutant.file}`);
    for (const test of mutant.tests) checkTestFile(where, test);
    return mutant;
  });
}

function occurrences(text: string, find: string): number {
  let count = 0;
  for (let at = text.indexOf(find); at !== -1; at = text.indexOf(find, at + find.length)) count++;
  return count;
}

/** The files `git ls-files` names (tracked, and untracked but not ignored) copied to a new temp folder, node_modules linked. */
function throwawayCopy(): string {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  if (listed.status !== 0) fail(`git ls-files failed: ${listed.stderr}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ars-mutants-'));
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    const from = path.join(ROOT, file);
    if (file === 'node_modules' || !existsSync(from)) continue; // the link, or deleted in the work tree
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    copyFileSync(from, path.join(dir, file));
  }
  symlinkSync(realpathSync(path.join(ROOT, 'node_modules')), path.join(dir, 'node_modules'), 'dir');
  writeTranspileOnlyConfig(dir);
  return dir;
}

const JEST_CONFIG = 'jest.mutants.config.js';
const TSCONFIG = 'tsconfig.mutants.json';

/**
 * The project's jest config with ts-jest in transpile-only mode (`isolatedModules`): a mutant is
 * judged by what its tests see at run time, not by the type checker (a mutant `tsc` rejects would
 * otherwise count as killed), and each run skips the type check that costs most of its time.
 */
function writeTranspileOnlyConfig(dir: string): void {
  writeFileSync(path.join(dir, TSCONFIG), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { isolatedModules: true } }, null, 2));
  writeFileSync(
    path.join(dir, JEST_CONFIG),
    [
      `const base = require('./jest.config.js');`,
      `const transform = Object.fromEntries(Object.entries(base.transform ?? {}).map(([pattern, t]) =>`,
      `  [pattern, Array.isArray(t) && t[0] === 'ts-jest' ? ['ts-jest', { ...t[1], tsconfig: '<rootDir>/${TSCONFIG}' }] : t]));`,
      `module.exports = { ...base, rootDir: __dirname, transform };`,
      '',
    ].join('\n'),
  );
}

interface JestReport {
  numFailedTests: number;
  numTotalTests: number;
  numRuntimeErrorTestSuites: number;
  testResults: { name: string; message: string; assertionResults: { status: string; fullName: string }[] }[];
}

/** Runs jest on `tests` in `dir`; the verdict as if a mutant were applied. */
function runTests(dir: string, tests: string[], label: string, testNamePattern?: string): Outcome {
  const started = Date.now();
  const reportFile = path.join(dir, `.mutants-${label}.json`);
  rmSync(reportFile, { force: true });
  const jest = path.join(dir, 'node_modules', '.bin', 'jest');
  const result = spawnSync(jest, ['--config', JEST_CONFIG, '--runInBand', '--ci', '--silent', '--json', `--outputFile=${reportFile}`, ...(testNamePattern ? ['--testNamePattern', testNamePattern] : []), ...tests], {
    cwd: dir,
    env: { ...process.env, DATABASE_URL: process.env.DATABASE_URL || DEFAULT_DATABASE_URL },
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  writeFileSync(path.join(dir, `.mutants-${label}.log`), `${result.stdout ?? ''}\n${result.stderr ?? ''}`);
  const ms = Date.now() - started;
  if (result.error) return { verdict: 'error', failed: 0, total: 0, note: `jest did not finish: ${result.error.message}`, ms };
  if (!existsSync(reportFile)) return { verdict: 'error', failed: 0, total: 0, note: `jest wrote no report (exit ${result.status}): ${lastLine(result.stderr)}`, ms };
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as JestReport;
  const broken = report.testResults.filter((file) => file.assertionResults.length === 0 && file.message);
  if (broken.length > 0) {
    return { verdict: 'error', failed: report.numFailedTests, total: report.numTotalTests, note: `${path.relative(dir, broken[0].name)} did not run: ${firstLine(broken[0].message)}`, ms };
  }
  const failing = report.testResults.flatMap((file) => file.assertionResults.filter((a) => a.status === 'failed').map((a) => a.fullName));
  const ran = report.testResults.flatMap((file) => file.assertionResults.filter((a) => a.status === 'passed' || a.status === 'failed'));
  if (ran.length === 0) return { verdict: 'error', failed: 0, total: report.numTotalTests, note: 'no test ran (a testNamePattern that matches nothing?)', ms };
  if (failing.length === 0 && result.status !== 0) return { verdict: 'error', failed: 0, total: report.numTotalTests, note: `jest exited ${result.status} with no failing test`, ms };
  const killers = report.testResults.filter((file) => file.assertionResults.some((a) => a.status === 'failed')).map((file) => path.relative(dir, file.name));
  return { verdict: failing.length > 0 ? 'killed' : 'survived', failed: failing.length, total: report.numTotalTests, killers, note: failing[0] ?? '', ms };
}

// eslint-disable-next-line no-control-regex
const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');
const firstLine = (text: string) => plain(text).split('\n').map((l) => l.trim()).find((l) => l.length > 0 && !l.startsWith('●')) ?? '';
const lastLine = (text: string | null) => plain(text ?? '').trim().split('\n').pop() ?? '';

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const clip = (text: string, max = 90) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function main(): void {
  const { only, tests } = parseArgs(process.argv.slice(2));
  for (const test of tests) checkTestFile('--tests', test);
  const all = loadMutants().map((m) => (tests.length > 0 ? { ...m, tests, testNamePattern: undefined } : m));
  const unknown = only.filter((id) => !all.some((m) => m.id === id));
  if (unknown.length > 0) fail(`no mutant ${unknown.join(', ')} in ${path.relative(ROOT, LIST)}`);
  const mutants = only.length > 0 ? all.filter((m) => only.includes(m.id)) : all;

  const stale = mutants.filter((m) => occurrences(readFileSync(path.join(ROOT, m.file), 'utf8'), m.find) !== 1);
  if (stale.length > 0) {
    for (const m of stale) {
      const n = occurrences(readFileSync(path.join(ROOT, m.file), 'utf8'), m.find);
      process.stderr.write(`mutants: STALE ${m.id}: its find text occurs ${n} times in ${m.file} (must be exactly once)\n`);
    }
    fail(`${stale.length} stale mutant(s): update ${path.relative(ROOT, LIST)} to the code as it is now`);
  }

  const dir = throwawayCopy();
  const started = Date.now();
  try {
    const runnable = mutants.filter((m) => m.equivalent === undefined);
    const baselineTests = [...new Set(runnable.flatMap((m) => m.tests))].sort();
    if (baselineTests.length > 0) {
      process.stdout.write(`mutants: copy in ${dir}; baseline: ${baselineTests.length} test file(s) on the unmutated copy…\n`);
      const baseline = runTests(dir, baselineTests, 'baseline');
      if (baseline.verdict !== 'survived') {
        const why = baseline.verdict === 'killed' ? `${baseline.failed} failing, first: ${baseline.note}` : baseline.note;
        fail(`the unmutated copy does not pass its tests (${why}); see the log kept in ${dir}`);
      }
      process.stdout.write(`mutants: baseline passes (${baseline.total} tests, ${seconds(baseline.ms)})\n`);
    }

    const rows: string[][] = [['mutant', 'result', 'failing', 'time', 'failing files', 'first failing test (or why)']];
    let bad = 0;
    for (const m of runnable) {
      const target = path.join(dir, m.file);
      const original = readFileSync(target, 'utf8');
      writeFileSync(target, original.replace(m.find, () => m.replace));
      let outcome: Outcome;
      try {
        outcome = runTests(dir, m.tests, m.id, m.testNamePattern);
      } finally {
        writeFileSync(target, original);
      }
      if (outcome.verdict !== 'killed') bad++;
      const row = [m.id, outcome.verdict.toUpperCase(), `${outcome.failed}/${outcome.total}`, seconds(outcome.ms), (outcome.killers ?? []).map((f) => path.basename(f, '.test.ts')).join(' '), clip(outcome.note, 80)];
      rows.push(row);
      process.stdout.write(`mutants: ${row.slice(0, 4).join('  ')}\n`);
    }
    for (const m of mutants.filter((x) => x.equivalent !== undefined)) rows.push([m.id, 'EQUIVALENT', '-', '-', '-', clip(m.equivalent!, 80)]);
    process.stdout.write(`\n${table(rows)}\n\n`);
    for (const m of mutants.filter((x) => x.equivalent !== undefined)) process.stdout.write(`equivalent ${m.id}: ${m.equivalent}\n`);
    const equivalent = mutants.length - runnable.length;
    process.stdout.write(
      `${runnable.length - bad} of ${runnable.length} mutants killed, ${bad} not${equivalent > 0 ? `; ${equivalent} equivalent, not run` : ''} (total ${seconds(Date.now() - started)}, baseline included)\n`,
    );
    rmSync(dir, { recursive: true, force: true });
    process.exit(bad === 0 ? 0 : 1);
  } catch (error) {
    process.stderr.write(`mutants: ${String(error)} (copy kept in ${dir})\n`);
    process.exit(1);
  }
}

main();

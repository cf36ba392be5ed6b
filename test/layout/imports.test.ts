/**
 * The layout's rules (README "Layout"), checked on the source: data takes one path, top to bottom.
 * - No import loop but those MikroORM wires: the run entity names its repository, and related
 *   entities name each other (relation thunks). Type-only imports load nothing and are not edges.
 * - `src/sql/` and `src/lifecycle/` are pure: they import no I/O module (no repositories, no
 *   driver, no entity values), so every statement can be built and reviewed without a database.
 * - No module below the door imports `run.repository.ts` back.
 * No database: reads the files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '..', '..', 'src');
const ALLOWED_LOOP_EDGE = ['entities/run-object.entity.ts', 'repositories/run.repository.ts'] as const;

interface Import {
  target: string;
  typeOnly: boolean;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
  });
}

const rel = (file: string) => path.relative(SRC, file).split(path.sep).join('/');

function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (existsSync(candidate)) return rel(candidate);
  throw new Error(`${rel(from)}: cannot resolve '${spec}'`);
}

/** Every relative import and re-export of `file` (type-only ones marked). */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const found: Import[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?([^;]*?)\s*from\s+'([^']+)'/gms)) {
    const target = resolve(file, m[4]);
    if (target === null) continue;
    const names = m[3];
    const typeOnly = m[2] !== undefined || (/^\{[^}]*\}$/s.test(names.trim()) && names.replace(/[{}\s]/g, '').split(',').filter(Boolean).every((n) => n.startsWith('type')));
    found.push({ target, typeOnly });
  }
  for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) {
    const target = resolve(file, m[1]);
    if (target !== null) found.push({ target, typeOnly: false });
  }
  return found;
}

const graph = new Map(files(SRC).map((f) => [rel(f), importsOf(f)]));

const entityToEntity = (from: string, to: string) => from.startsWith('entities/') && to.startsWith('entities/') && from.endsWith('.entity.ts') && to.endsWith('.entity.ts');

test('no import loop but entity → repository and entity ↔ entity', () => {
  const edges = (from: string) =>
    (graph.get(from) ?? [])
      .filter((i) => !i.typeOnly)
      .map((i) => i.target)
      .filter((to) => !(from === ALLOWED_LOOP_EDGE[0] && to === ALLOWED_LOOP_EDGE[1]) && !entityToEntity(from, to));
  const loops: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, trail: string[]) => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      loops.push([...trail.slice(trail.indexOf(node)), node].join(' → '));
      return;
    }
    state.set(node, 'open');
    for (const next of edges(node)) visit(next, [...trail, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  expect(loops).toEqual([]);
  // the one loop is really there (the test would pass vacuously if the edge were renamed)
  expect(graph.get(ALLOWED_LOOP_EDGE[0])!.map((i) => i.target)).toContain(ALLOWED_LOOP_EDGE[1]);
});

test('src/sql and src/lifecycle are pure builders: no I/O module, no entity values', () => {
  const impure: string[] = [];
  for (const [file, imports] of graph) {
    if (!file.startsWith('sql/') && !file.startsWith('lifecycle/')) continue;
    for (const i of imports) {
      const pure = i.target.startsWith('sql/') || i.target.startsWith('lifecycle/') || i.target === 'api/types.ts' || i.target === 'api/list-query.ts' || (i.typeOnly && i.target.startsWith('entities/'));
      if (!pure) impure.push(`${file} → ${i.target}`);
    }
  }
  expect(impure).toEqual([]);
  const lifecycle = [...graph.entries()].filter(([f]) => f.startsWith('lifecycle/'));
  expect(lifecycle.flatMap(([f, imports]) => imports.filter((i) => i.target !== 'api/types.ts').map((i) => `${f} → ${i.target}`))).toEqual([]);
});

test('no module imports the door back (only the entity that names it, and the public surface)', () => {
  const back = [...graph.entries()]
    .filter(([file, imports]) => imports.some((i) => i.target === 'repositories/run.repository.ts'))
    .map(([file]) => file)
    .sort();
  expect(back).toEqual(['entities/run-object.entity.ts', 'index.ts']);
});

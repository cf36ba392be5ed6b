/** Hand-drawn tables and number formats for the command line's human output. */

export type Cell = string | number | null | undefined;

export interface TableOptions {
  /** Column indexes to right-align (numbers are right-aligned anyway). */
  right?: number[];
  title?: string;
}

const width = (s: string): number => [...s].length;

/** A table with a header row, drawn with box characters. */
export function table(headers: string[], rows: Cell[][], options: TableOptions = {}): string {
  const text = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const right = new Set(options.right ?? []);
  rows.forEach((row) => row.forEach((cell, i) => typeof cell === 'number' && right.add(i)));
  const widths = headers.map((h, i) => Math.max(width(h), ...text.map((r) => width(r[i]))));
  const pad = (s: string, i: number) => (right.has(i) ? ' '.repeat(widths[i] - width(s)) + s : s + ' '.repeat(widths[i] - width(s)));
  const line = (l: string, m: string, r: string) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (cells: string[]) => '│ ' + cells.map(pad).join(' │ ') + ' │';
  const out = [];
  if (options.title) out.push(options.title);
  out.push(line('┌', '┬', '┐'), row(headers), line('├', '┼', '┤'));
  if (text.length === 0) out.push(row(headers.map((_, i) => (i === 0 ? '(none)' : ''))));
  for (const r of text) out.push(row(r));
  out.push(line('└', '┴', '┘'));
  return out.join('\n');
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) return '–';
  if (typeof cell === 'number') return formatCount(cell);
  return cell;
}

/** 12,345 */
export function formatCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(1);
}

/** Unix seconds as `2024-05-18 10:40:00Z`, or `–`. */
export function formatUnix(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** 1.2 s, 340 ms */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** Peak resident memory of this process so far, in MB. */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

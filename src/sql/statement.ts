/**
 * The one form of every statement the store sends: SQL text with `?` placeholders and its
 * parameters, in order. Builders in this folder are pure (no I/O); `repositories/executor.ts`
 * sends a statement with its parameters bound, never spliced into the text.
 */
import type { RunStatus } from '../api/types';

export interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** Collects parameters while a builder writes its text: `p.add(v)` returns the placeholder. */
export class Params {
  readonly values: unknown[] = [];
  /** A placeholder for `value`; call in the order the placeholders appear in the text. */
  add(value: unknown): string {
    this.values.push(value);
    return '?';
  }
  list(values: readonly unknown[]): string {
    return values.map((v) => this.add(v)).join(', ');
  }
}

/** A quoted list of statuses. Only ever statuses from the package's own tables, never caller input. */
export function statusList(statuses: readonly RunStatus[]): string {
  return statuses.map((s) => `'${s}'`).join(', ');
}

/**
 * Progress on stderr: a bar redrawn in place on a terminal, plain lines (at most one every few
 * seconds) when stderr is a file or a pipe, so logs stay readable.
 */
import { formatCount } from './format';

export interface ProgressState {
  lines: number;
  imported: number;
  bad: number;
  /** Bytes read so far and in total, when the input's size is known (a file). */
  bytesRead?: number;
  bytesTotal?: number;
}

export class Progress {
  private readonly tty: boolean;
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 2000,
    enabled = true,
  ) {
    this.tty = enabled && Boolean(stream.isTTY);
    this.enabled = enabled;
  }

  private readonly enabled: boolean;

  /** Called after each batch; draws at most ~10 times a second on a terminal. */
  update(state: ProgressState): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < (this.tty ? 100 : this.plainEveryMs)) return;
    this.lastDraw = now;
    if (this.tty) {
      this.stream.write(`\r${this.bar(state)}\x1b[K`);
      this.drawn = true;
    } else {
      this.stream.write(`progress: ${this.counts(state)}\n`);
    }
  }

  /** Clears the bar before other output (a bad line's report) is written. */
  clear(): void {
    if (this.tty && this.drawn) {
      this.stream.write('\r\x1b[K');
      this.drawn = false;
      this.lastDraw = 0;
    }
  }

  private fraction(state: ProgressState): number | null {
    return state.bytesTotal ? Math.min(1, (state.bytesRead ?? 0) / state.bytesTotal) : null;
  }

  private rate(state: ProgressState): string {
    const seconds = (Date.now() - this.started) / 1000;
    return seconds > 0 ? `${formatCount(Math.round(state.imported / seconds))} runs/s` : '';
  }

  private counts(state: ProgressState): string {
    const f = this.fraction(state);
    const pct = f === null ? '' : ` (${Math.floor(f * 100)}%)`;
    return `${formatCount(state.lines)} lines read${pct}, ${formatCount(state.imported)} imported, ${formatCount(state.bad)} bad, ${this.rate(state)}`;
  }

  private bar(state: ProgressState): string {
    const f = this.fraction(state);
    const width = 28;
    const bar = f === null ? '' : `[${'█'.repeat(Math.round(f * width)).padEnd(width, '░')}] ${String(Math.floor(f * 100)).padStart(3)}% `;
    return `${bar}${this.counts(state)}`;
  }
}

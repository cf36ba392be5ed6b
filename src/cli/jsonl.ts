/**
 * JSON Lines as `export` writes and `import` reads them. JSON allows U+2028 and U+2029 unescaped
 * in strings, and some line readers (Node 24's `readline`, editors, JavaScript before ES2019)
 * break lines there: they are written escaped, and lines are split at `\n` only.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

/** One JSON line (no `\n`): JSON.stringify with U+2028/U+2029 written as `\u2028`/`\u2029`. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}

/** The lines of a UTF-8 stream, split at `\n` only (a `\r` before it is dropped); the last one even without `\n`. */
export async function* readLines(input: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  const withoutCr = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);
  let pending: string[] = []; // the current line's text so far (a long line spans many chunks)
  for await (const chunk of input) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      pending.push(text.slice(start, end));
      yield withoutCr(pending.join(''));
      pending = [];
      start = end + 1;
    }
    if (start < text.length) pending.push(text.slice(start));
  }
  const last = pending.join('') + decoder.end();
  if (last !== '') yield withoutCr(last);
}

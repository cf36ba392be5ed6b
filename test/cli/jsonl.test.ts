/** JSON Lines framing: `jsonLine` escapes the line separators some readers break at; `readLines` splits at `\n` only. */
import { Readable } from 'node:stream';
import { jsonLine, readLines } from '../../src/cli/jsonl';

const linesOf = async (...chunks: (string | Buffer)[]) => {
  const out: string[] = [];
  for await (const line of readLines(Readable.from(chunks, { objectMode: true }))) out.push(line);
  return out;
};

describe('JSON Lines', () => {
  it('jsonLine writes U+2028/U+2029 as escapes and is still the same JSON', () => {
    const value = { a: 'x\u2028y\u2029z', ['k\u2028']: ['\u2029'], n: 1 };
    const line = jsonLine(value);
    expect(line).toBe(String.raw`{"a":"x\u2028y\u2029z","k\u2028":["\u2029"],"n":1}`);
    expect(JSON.parse(line)).toEqual(value);
  });

  it('readLines splits at \\n only: U+2028, U+2029 and a lone \\r stay inside a line', async () => {
    expect(await linesOf('a\u2028b\n', 'c\u2029d\re\n')).toEqual(['a\u2028b', 'c\u2029d\re']);
  });

  it('readLines drops the \\r of CRLF, keeps empty lines and a last line without \\n', async () => {
    expect(await linesOf('a\r\n\r\nb\r\n', '\nlast')).toEqual(['a', '', 'b', '', 'last']);
    expect(await linesOf('only\n')).toEqual(['only']);
    expect(await linesOf('')).toEqual([]);
  });

  it('readLines joins a line spread over chunks, also a character split between two chunks', async () => {
    const bytes = Buffer.from('{"x":"日本\u2028語"}\nnext', 'utf8');
    const chunks = Array.from(bytes, (b) => Buffer.from([b])); // one byte per chunk
    expect(await linesOf(...chunks)).toEqual(['{"x":"日本\u2028語"}', 'next']);
  });
});

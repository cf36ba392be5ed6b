/** JSON Lines files of API run objects for the import/export tests: varied good runs, bad lines mixed in. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { ApiRunInput } from '../../../src/api/types';
import { apiRunV1, apiRunV2, uid } from '../../factories';

/** The i-th good run: both versions, every terminal status, tools, usage, metadata. */
export function goodRun(i: number): ApiRunInput {
  const created = 1_716_000_000 + i;
  switch (i % 6) {
    case 0:
      return apiRunV2({ created_at: created, expires_at: created + 600, metadata: { n: String(i) } });
    case 1:
      return apiRunV2({
        created_at: created,
        status: 'completed',
        started_at: created + 1,
        completed_at: created + 5,
        expires_at: null,
        usage: { prompt_tokens: 100 + i, completion_tokens: 20, total_tokens: 120 + i },
        tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      });
    case 2:
      return apiRunV2({
        created_at: created,
        status: 'failed',
        started_at: created + 1,
        failed_at: created + 2,
        expires_at: null,
        last_error: { code: 'rate_limit_exceeded', message: `slow down ${i}` },
        temperature: 0.7,
        top_p: 0.9,
      });
    case 3:
      return apiRunV1({ created_at: created, started_at: created + 1, completed_at: created + 9 });
    case 4:
      return apiRunV2({
        created_at: created,
        status: 'incomplete',
        started_at: created + 1,
        completed_at: created + 3,
        expires_at: null,
        incomplete_details: { reason: 'max_completion_tokens' },
        usage: { prompt_tokens: 500, completion_tokens: 256, total_tokens: 756 },
        response_format: { type: 'json_object' },
      });
    default:
      return apiRunV2({ created_at: created, status: 'expired', instructions: 'Ünïcödé ✓ "quoted" \\ back', tool_choice: { type: 'function', function: { name: 'f' } } });
  }
}

/** Bad lines of every kind, with the field each must be reported on. */
export const BAD_LINES: { text: () => string; field: string }[] = [
  { text: () => '{"id": "run_broken", "object": ', field: '(json)' },
  { text: () => '[1, 2, 3]', field: '(json)' },
  { text: () => JSON.stringify({ ...apiRunV2(), status: 'bogus' }), field: 'status' },
  { text: () => JSON.stringify(apiRunV2({ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, k) => [`k${k}`, 'v'])) })), field: 'metadata' },
  { text: () => JSON.stringify(apiRunV2({ max_prompt_tokens: 12 })), field: 'max_prompt_tokens' },
  { text: () => JSON.stringify({ ...apiRunV2(), thread_id: undefined }), field: 'thread_id' },
];

export interface WrittenFile {
  lines: number;
  good: number;
  bad: number;
  /** 1-based line numbers of the bad lines, with the field each is reported on. */
  badLines: { line: number; field: string }[];
}

/** Writes `good` good runs with a bad line after every `badEvery` good ones. */
export async function writeRunsFile(path: string, good: number, badEvery: number): Promise<WrittenFile> {
  const out = createWriteStream(path);
  const result: WrittenFile = { lines: 0, good: 0, bad: 0, badLines: [] };
  const put = async (line: string) => {
    result.lines++;
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  };
  for (let i = 0; i < good; i++) {
    await put(JSON.stringify(goodRun(i)));
    result.good++;
    if (badEvery > 0 && (i + 1) % badEvery === 0) {
      const kind = BAD_LINES[result.bad % BAD_LINES.length];
      await put(kind.text());
      result.badLines.push({ line: result.lines, field: kind.field });
      result.bad++;
    }
  }
  out.end();
  await once(out, 'finish');
  return result;
}

export { uid };

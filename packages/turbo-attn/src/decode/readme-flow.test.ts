import { readFileSync } from 'node:fs';
import { createKVCache } from '@qattn/kv-cache';
import { generateInputs } from '@qattn/reference';
import { describe, expect, it } from 'vitest';
import { turboAttention, turboDecode } from '../index.js';

// @qattn/kv-cache's README shows the prefill-then-decode flow; this test runs that exact code block (its imports
// bound to these modules), so the README cannot drift from the API.
const README = new URL('../../../kv-cache/README.md', import.meta.url);
const ROOT_README = new URL('../../../../README.md', import.meta.url);
const HEADING = '## Prefill, then decode';

function codeBlock(file: URL): string {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('```ts', text.indexOf(HEADING));
  return text.slice(start, text.indexOf('```', start + 5));
}

function flowBlock(): { imports: string[]; body: string } {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('```ts', text.indexOf(HEADING));
  const end = text.indexOf('```', start + 5);
  if (text.indexOf(HEADING) < 0 || start < 0 || end < 0) throw new Error(`README has no \`\`\`ts block under "${HEADING}"`);
  const lines = text.slice(start + 5, end).split('\n');
  return { imports: lines.filter((line) => line.startsWith('import ')), body: lines.filter((line) => !line.startsWith('import ')).join('\n') };
}

describe('the README flow of @qattn/kv-cache', () => {
  it('is the same block in the repository README', () => {
    expect(codeBlock(ROOT_README)).toBe(codeBlock(README));
  });

  it('imports only what this test binds', () => {
    expect(flowBlock().imports).toEqual([
      "import { createKVCache } from '@qattn/kv-cache';",
      "import { generateInputs } from '@qattn/reference';",
      "import { turboAttention, turboDecode } from '@qattn/turbo-attn';",
    ]);
  });

  it('runs: prefill attention, the prompt into the cache, then decode steps', async () => {
    const { body } = flowBlock();
    const logs: string[] = [];
    const console = { log: (...parts: unknown[]) => logs.push(parts.join(' ')) };
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;
    const flow = new AsyncFunction('createKVCache', 'generateInputs', 'turboAttention', 'turboDecode', 'console', body);
    await flow(createKVCache, generateInputs, turboAttention, turboDecode, console);
    expect(logs).toHaveLength(5);
    logs.slice(0, 4).forEach((line, step) => expect(line).toMatch(new RegExp(`^step ${step}: ${301 + step} tokens, out\\[0\\] = -?\\d+\\.\\d{4}$`)));
    expect(logs[4]).toMatch(/^307200 prefill outputs; cache \d\.\d\d× smaller than fp16$/);
  });
});

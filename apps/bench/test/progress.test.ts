import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressBar } from '../src/progress.js';

/** A stream that claims to be a terminal, with the cursor methods cli-progress calls, recording what is drawn. */
function fakeTerminal(isTTY: boolean) {
  const stream = new PassThrough() as PassThrough & Partial<NodeJS.WriteStream> & { drawn: string };
  stream.drawn = '';
  stream.on('data', (chunk: Buffer) => (stream.drawn += chunk.toString()));
  Object.assign(stream, {
    isTTY,
    columns: 120,
    cursorTo: (_x: number, _y?: number, cb?: () => void) => (cb?.(), true),
    clearLine: (_dir: number, cb?: () => void) => (cb?.(), true),
    moveCursor: (_dx: number, _dy: number, cb?: () => void) => (cb?.(), true),
  });
  return stream;
}

describe('progress bar', () => {
  it('draws the label, percentage and ETA on a terminal', async () => {
    const terminal = fakeTerminal(true);
    const bar = createProgressBar(true, 'sweep', terminal as unknown as NodeJS.WriteStream);
    bar.update(0, 2, 'float32 cpu B1 H4 N256 D64');
    bar.update(1, 2, 'float32 cpu B1 H4 N512 D64');
    bar.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(terminal.drawn).toContain('sweep');
    expect(terminal.drawn).toContain('ETA');
    expect(terminal.drawn).toContain('float32 cpu B1 H4 N256 D64');
  });

  it('draws nothing when the stream is not a terminal or when disabled (--no-progress)', async () => {
    for (const [enabled, isTTY] of [
      [true, false],
      [false, true],
    ] as const) {
      const terminal = fakeTerminal(isTTY);
      const bar = createProgressBar(enabled, 'sweep', terminal as unknown as NodeJS.WriteStream);
      bar.update(1, 2, 'cell');
      bar.stop();
      await new Promise((resolve) => setImmediate(resolve));
      expect(terminal.drawn).toBe('');
    }
  });
});

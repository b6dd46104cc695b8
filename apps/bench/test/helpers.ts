import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';

export const benchRoot = fileURLToPath(new URL('..', import.meta.url));
export const binPath = fileURLToPath(new URL('../bin/qattn-bench.mjs', import.meta.url));

/** Runs the CLI in-process, capturing what it prints. */
export async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

/** Runs the built bin in a child process (what a user runs). */
export function spawnBin(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [binPath, ...argv], { cwd: benchRoot, encoding: 'utf8', env, timeout: 120_000 });
}

/** A tiny sweep: 2 heads, 32 tokens, head dim 16, one repeat: a few hundred milliseconds in total. */
export const TINY = ['--heads', '2', '--seq', '32,64', '--head-dim', '16', '--causal', 'both', '--warmup', '0', '--repeats', '1', '--no-progress'];

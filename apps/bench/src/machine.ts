import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

/** A GPU as seen by nvidia-smi (or by the peers script). */
export interface GpuInfo {
  name: string;
  driver?: string;
  memoryBytes?: number;
  source: 'nvidia-smi' | 'torch';
}

/** The machine a report was made on. */
export interface MachineInfo {
  os: { platform: string; type: string; release: string; arch: string };
  cpu: { model: string; cores: number; speedMHz?: number };
  memoryBytes: number;
  gpus: GpuInfo[];
}

function run(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** nvidia-smi's view of the GPUs, or [] when it is absent. */
export function nvidiaGpus(): GpuInfo[] {
  const csv = run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader,nounits']);
  if (!csv) return [];
  return csv
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, driver, memoryMiB] = line.split(',').map((s) => s.trim());
      const mib = Number(memoryMiB);
      return { name, driver, ...(Number.isFinite(mib) ? { memoryBytes: mib * 1024 * 1024 } : {}), source: 'nvidia-smi' as const };
    });
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    os: { platform: os.platform(), type: os.type(), release: os.release(), arch: os.arch() },
    cpu: { model: cpus[0]?.model?.trim() ?? 'unknown', cores: os.availableParallelism?.() ?? cpus.length, ...(cpus[0]?.speed ? { speedMHz: cpus[0].speed } : {}) },
    memoryBytes: os.totalmem(),
    gpus: nvidiaGpus(),
  };
}

const PACKAGES = ['@qattn/bench', '@qattn/quant-core', '@qattn/reference', '@qattn/flash-int8', '@qattn/turbo-attn', '@qattn/kv-cache'];

/**
 * Versions of node and of the qattn packages. A bundled bench (the GPU host copy) cannot resolve package.json files;
 * the staging script then passes them in QATTN_BENCH_VERSIONS (a JSON object).
 */
export function versions(): { node: string; packages: Record<string, string> } {
  const packages: Record<string, string> = {};
  const require = createRequire(import.meta.url);
  for (const name of PACKAGES) {
    try {
      const path = name === '@qattn/bench' ? new URL('../package.json', import.meta.url) : require.resolve(`${name}/package.json`);
      packages[name] = (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
    } catch {
      packages[name] = 'unknown';
    }
  }
  const injected = process.env.QATTN_BENCH_VERSIONS;
  if (injected) {
    try {
      Object.assign(packages, JSON.parse(injected) as Record<string, string>);
    } catch {
      // A malformed override is ignored: the versions above stay.
    }
  }
  return { node: process.version, packages };
}

/** The git commit of the checkout (QATTN_GIT_COMMIT on hosts without .git), and whether the tree was dirty. */
export function gitInfo(): { commit: string; dirty?: boolean } {
  const fromEnv = process.env.QATTN_GIT_COMMIT;
  if (fromEnv) return { commit: fromEnv };
  const commit = run('git', ['rev-parse', 'HEAD']);
  if (!commit) return { commit: 'unknown' };
  const status = run('git', ['status', '--porcelain', '--untracked-files=no']);
  return { commit, ...(status !== undefined ? { dirty: status.length > 0 } : {}) };
}

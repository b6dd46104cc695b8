import { CACHE_KINDS } from '../decode-cache/kinds.js';
import { DECODE_SDPA_PEERS, type DecodeSdpaPeerName } from '../decode-cache/peers.js';
import type { DecodeCacheReport } from '../decode-cache/report.js';
import type { DecodeCacheRow } from '../decode-cache/rows.js';
import type { TargetCheck } from '../decode-cache/targets.js';
import { WGSL_BASELINES } from '../decode-cache/wgsl-baseline.js';
import { shapeLabel } from '../metrics.js';
import { percent, sig3 } from './format.js';
import type { Section } from './sections.js';

const dash = '–';
const us = (ms: number | undefined) => (ms !== undefined ? sig3(ms * 1e3) : dash);
const mib = (bytes: number | undefined) => (bytes !== undefined ? sig3(bytes / 2 ** 20) : dash);
const times = (value: number | undefined) => (value !== undefined ? `${value.toFixed(2)}×` : dash);
const statusText = (row: { status: string; error?: { code: string } }, timer?: string) =>
  row.status === 'ok' ? (timer ?? '') : row.status === 'error' ? `error ${row.error?.code ?? ''}`.trim() : row.status;

/** The rows table: one line per (backend, shape, cache kind, variant). The variant column only when there are two. */
export function decodeCacheRowsTable(report: DecodeCacheReport): { head: string[]; rows: string[][] } {
  const variants = new Set(report.rows.map((r) => r.algorithm)).size > 1;
  const overhead = report.rows.some((r) => r.deviceStep);
  const head = [
    ...(variants ? ['algorithm'] : []),
    'backend',
    'cache',
    'shape',
    'step µs',
    'p10–p90 µs',
    'cache MiB',
    '× fp16',
    'GB/s',
    'rel L2',
    'cos',
    ...(overhead ? ['device step: host µs'] : []),
    'timer / status',
  ];
  const rows = report.rows.map((r: DecodeCacheRow) => [
    ...(variants ? [r.algorithm] : []),
    r.backend,
    r.cache,
    shapeLabel(r.shape),
    us(r.step?.medianMs),
    r.step ? `${us(r.step.p10Ms)}–${us(r.step.p90Ms)}` : dash,
    mib(r.memory?.allocatedBytes),
    r.memory ? r.memory.compressionRatio.toFixed(2) : dash,
    r.gbps !== undefined ? sig3(r.gbps) : dash,
    r.accuracy ? percent(r.accuracy.relL2) : r.accuracyError ? 'n/a*' : dash,
    r.accuracy ? r.accuracy.cos.toFixed(5) : dash,
    ...(overhead ? [deviceStepText(r)] : []),
    statusText(r, r.step?.timer),
  ]);
  return { head, rows };
}

function deviceStepText(row: DecodeCacheRow): string {
  const step = row.deviceStep;
  if (!step) return dash;
  if (step.status !== 'ok') return step.status;
  if (step.hostOverheadUs === undefined) return `wall ${sig3(step.wall!.medianUs)}`;
  return `${sig3(step.hostOverheadUs)}${step.pass === undefined ? '' : step.pass ? ' pass' : ' FAIL'}`;
}

/** The legend under the rows table: what each column counts. */
export function decodeCacheLegend(report: DecodeCacheReport, l2CacheBytes?: number): string[] {
  const s = report.settings;
  const kinds = s.caches.map((c) => `${c}: ${CACHE_KINDS[c].description}`).join('; ');
  const slices = [...new Set(report.rows.filter((r) => r.accuracy).map((r) => r.accuracy!.slices))];
  const timers = new Set(report.rows.flatMap((r) => (r.step ? [r.step.timer] : [])));
  const timerText = [...timers].map((t) => (t === 'events' ? 'events = CUDA events around benchmarkDecode\'s launches, q on the device' : t === 'host' ? 'host = the awaited typed-array call on the host clock' : t)).join('; ');
  const lines = [
    `caches (default page size, sink tokens and rotation of @qattn/kv-cache; capacity = the prompt, filled once per row in appends of ≤ ${s.fillChunkTokens} tokens): ${kinds}`,
  ];
  if (timers.size) lines.push(`step µs: median of ${s.repeats} decode steps after ${s.warmup} warm-up steps over the filled cache, p10–p90 their spread (${timerText})`);
  if (report.rows.some((r) => r.memory)) {
    lines.push(`cache MiB: KVCache.memory().allocatedBytes; × fp16: fp16 K/V bytes of the same tokens ÷ that. GB/s: the bytes a step reads ÷ the median step, where those bytes = ${s.bytesPerStepDefinition}`);
  }
  if (slices.length) lines.push(`rel L2 / cos: the typed-array turboDecode output against @qattn/reference float64 attention over the original (unquantized) K/V, on ${slices.join('; ')}`);
  if (report.rows.some((r) => r.deviceStep)) {
    lines.push(
      `device step: ${s.calls} sequential awaited device-resident steps (q already on the device; outputs disposed), each timed on the host; host µs = wall median − the step's device median (as --preset overhead), target ≤ 40 µs on cuda`,
    );
  }
  if (l2CacheBytes) {
    const resident = report.rows.filter((r) => r.status === 'ok' && r.backend !== 'cpu' && r.bytesPerStep !== undefined && r.bytesPerStep <= l2CacheBytes);
    if (resident.length) {
      lines.push(
        `L2: ${resident.length} GPU row(s) hold a cache no larger than the GPU's ${sig3(l2CacheBytes / 2 ** 20)} MiB L2 (${[...new Set(resident.map((r) => `${r.cache} ${shapeLabel(r.shape)}`))].join(', ')}): back-to-back steps may read it from L2, so their GB/s can exceed DRAM bandwidth`,
      );
    }
  }
  return lines;
}

/** The peers table: one line per (peer, shape). */
export const DECODE_PEER_COLUMNS = ['peer', 'shape', 'median µs', 'GB/s', 'GQA', 'rel L2 (vs fp64)', 'status'];

export function decodePeerRows(report: DecodeCacheReport): string[][] {
  return (report.peers?.cells ?? []).map((p) => [
    p.peer,
    shapeLabel(p.shape),
    us(p.medianMs),
    p.gbps !== undefined ? sig3(p.gbps) : dash,
    p.gqa ?? dash,
    p.accuracy ? percent(p.accuracy.relL2) : dash,
    p.status === 'ok' ? (p.timer ?? 'events') : `${p.status} ${p.error?.code ?? ''}`.trim(),
  ]);
}

const PEER_SHORT: Record<DecodeSdpaPeerName, string> = {
  'sdpa-flash-fp16': 'flash fp16',
  'sdpa-flash-bf16': 'flash bf16',
  'sdpa-cudnn-fp16': 'cuDNN fp16',
  'sdpa-cudnn-bf16': 'cuDNN bf16',
};

/**
 * qattn against the peers: per GPU row, the speedup over each SDPA peer that ran and its bandwidth against the copy's;
 * on webgpu rows, the speedup over each WGSL baseline. SDPA, copy and WGSL columns appear only when some row has them.
 */
export function decodeComparisonTable(report: DecodeCacheReport): { head: string[]; rows: string[][] } {
  const comparisons = report.comparisons;
  const peers = DECODE_SDPA_PEERS.filter((p) => comparisons.some((c) => c.sdpa.some((s) => s.peer === p)));
  const baselines = WGSL_BASELINES.filter((p) => comparisons.some((c) => c.wgsl?.some((s) => s.peer === p)));
  const copy = comparisons.some((c) => c.copyGbps !== undefined);
  const variants = new Set(comparisons.map((c) => c.algorithm)).size > 1;
  const head = [
    ...(variants ? ['algorithm'] : []),
    'backend',
    'cache',
    'shape',
    'step µs',
    ...peers.map((p) => `÷ ${PEER_SHORT[p]}`),
    ...(peers.length ? ['÷ fastest SDPA'] : []),
    ...baselines.map((p) => `÷ ${p}`),
    ...(baselines.length ? ['÷ fastest WGSL'] : []),
    'GB/s',
    ...(copy ? ['copy GB/s', '% of copy'] : []),
  ];
  const rows = comparisons.map((c) => [
    ...(variants ? [c.algorithm] : []),
    c.backend,
    c.cache,
    shapeLabel(c.shape),
    us(c.qattnMs),
    ...peers.map((p) => times(c.sdpa.find((s) => s.peer === p)?.speedup)),
    ...(peers.length ? [c.fastestSdpa ? `${times(c.fastestSdpa.speedup)} (${PEER_SHORT[c.fastestSdpa.peer]})` : dash] : []),
    ...baselines.map((p) => times(c.wgsl?.find((s) => s.peer === p)?.speedup)),
    ...(baselines.length ? [c.fastestWgsl ? `${times(c.fastestWgsl.speedup)} (${c.fastestWgsl.peer})` : dash] : []),
    c.qattnGbps !== undefined ? sig3(c.qattnGbps) : dash,
    ...(copy ? [c.copyGbps !== undefined ? sig3(c.copyGbps) : dash, c.ofCopy !== undefined ? `${(c.ofCopy * 100).toFixed(0)}%` : dash] : []),
  ]);
  return { head, rows };
}

/** The WGSL baselines table: one line per (baseline, shape). */
export const WGSL_BASELINE_COLUMNS = ['peer', 'shape', 'step µs', 'p10–p90 µs', 'K/V MiB', 'GB/s', 'splits × keys', 'rel L2', 'timer / status'];

export function wgslBaselineRows(report: DecodeCacheReport): string[][] {
  return (report.wgslBaselines?.cells ?? []).map((c) => [
    c.peer,
    shapeLabel(c.shape),
    us(c.step?.medianMs),
    c.step ? `${us(c.step.p10Ms)}–${us(c.step.p90Ms)}` : dash,
    mib(c.bytesPerStep),
    c.gbps !== undefined ? sig3(c.gbps) : dash,
    c.schedule ? `${c.schedule.splits} × ${c.schedule.keysPerSplit}` : dash,
    c.accuracy ? percent(c.accuracy.relL2) : c.accuracyError ? 'n/a*' : dash,
    statusText(c, c.step?.timer),
  ]);
}

export const TARGET_COLUMNS = ['target', 'backend', 'cache', 'shape', 'measured', 'bound', 'verdict', 'against'];

function measuredText(c: TargetCheck): string {
  if (c.target === 'relative L2') return percent(c.measured);
  if (c.target === 'host overhead') return `${sig3(c.measured)} µs`;
  return times(c.measured);
}

function boundText(c: TargetCheck): string {
  const sign = c.direction === 'atLeast' ? '≥' : '≤';
  if (c.target === 'relative L2') return `${sign} ${percent(c.bound)}${c.aim ? ' (aim)' : ''}`;
  if (c.target === 'host overhead') return `${sign} ${c.bound} µs`;
  return `${sign} ${c.bound}×`;
}

export function targetRows(checks: TargetCheck[]): string[][] {
  return checks.map((c) => [
    c.target,
    c.backend,
    c.cache,
    shapeLabel(c.shape),
    measuredText(c),
    boundText(c),
    c.pass ? (c.aim ? 'aim met' : 'pass') : c.aim ? 'above aim' : 'FAIL',
    c.detail ?? '',
  ]);
}

/** Why rows did not run or lack a number, one line per distinct reason. */
export function decodeCacheNotes(report: DecodeCacheReport): string[] {
  const lines = new Set<string>();
  for (const r of report.rows) {
    if (r.error) lines.add(`${r.backend}: ${r.status} (${r.error.code}): ${r.error.message}`);
    if (r.accuracyError) lines.add(`${r.backend}: accuracy n/a* (${r.accuracyError.code}): ${r.accuracyError.message}`);
    if (r.deviceStep?.error) lines.add(`${r.backend} device step: ${r.deviceStep.status} (${r.deviceStep.error.code}): ${r.deviceStep.error.message}`);
  }
  return [...lines];
}

/** The sections of a decode-cache report, in reading order. */
export function decodeCacheSections(report: DecodeCacheReport): Section[] {
  const sections: Section[] = [];
  const p = report.peers;
  sections.push({
    title: 'Decode over the quantized KV cache',
    table: decodeCacheRowsTable(report),
    legend: decodeCacheLegend(report, p?.l2CacheBytes),
    notes: decodeCacheNotes(report),
  });
  if (p) {
    const where = p.device ? ` on ${p.device}, torch ${p.torch}${p.cudaRuntime ? `, CUDA ${p.cudaRuntime}` : ''}` : '';
    sections.push({
      title: 'Peers (PyTorch SDPA decode, device copy)',
      intro: [`peers (${p.python}): ${p.status}${p.reason ? ` — ${p.reason}` : ''}${where}`],
      ...(p.cells.length ? { table: { head: DECODE_PEER_COLUMNS, rows: decodePeerRows(report) } } : {}),
      legend: p.cells.length ? [report.settings.gbpsDefinition] : [],
      notes: [...new Set(p.cells.filter((c) => c.error).map((c) => `${c.peer}: ${c.status} (${c.error!.code}): ${c.error!.message}`))],
    });
  }
  const w = report.wgslBaselines;
  if (w) {
    sections.push({
      title: 'WebGPU peers (plain WGSL decode, same adapter)',
      intro: [`on ${w.adapter}${w.software ? ' (software adapter)' : ''}, the device the WebGPU cache uses; shader-f16: ${w.shaderF16 ? 'yes' : 'no (no wgsl-f16)'}`],
      ...(w.cells.length ? { table: { head: WGSL_BASELINE_COLUMNS, rows: wgslBaselineRows(report) } } : {}),
      legend: w.cells.length
        ? [
            'wgsl-f32 / wgsl-f16: a plain split-KV decode in WGSL (src/decode-cache/wgsl/) over dense K/V [batch, kvHeads, seqKV, headDim] in f32 or f16 (q and the output f32, f32 accumulation): one workgroup per (split, kv head, sequence) serving the kv head\'s query heads, K staged in workgroup memory by coalesced loads, V read coalesced, online softmax, then a combine pass over the splits',
            `step µs: median of ${report.settings.repeats} steps after ${report.settings.warmup} warm-up steps, timed as turboDecode's webgpu rows (GPU timestamps around the step, q on the device). GB/s: ${w.bytesPerStepDefinition}. rel L2: against the same float64 reference and slices as the rows`,
          ]
        : [],
      notes: [...new Set(w.cells.flatMap((c) => [...(c.error ? [`${c.peer}: ${c.status} (${c.error.code}): ${c.error.message}`] : []), ...(c.accuracyError ? [`${c.peer}: accuracy n/a* (${c.accuracyError.code}): ${c.accuracyError.message}`] : [])]))],
    });
  }
  if (report.comparisons.length) {
    sections.push({
      title: 'qattn ÷ peer',
      intro: [
        '÷ peer: the peer\'s median time ÷ the decode step\'s (above 1: qattn is faster; SDPA reads fp16/bf16 K/V and the WGSL baselines f32/f16 K/V, qattn its cache). % of copy: the step\'s GB/s ÷ the device copy\'s GB/s.',
      ],
      table: decodeComparisonTable(report),
    });
  }
  if (report.targets.length) {
    const met = report.targets.filter((c) => c.pass).length;
    const failed = report.targets.filter((c) => !c.pass && !c.aim).length;
    const aboveAim = report.targets.filter((c) => !c.pass && c.aim).length;
    sections.push({
      title: 'Targets (issue 9)',
      intro: [`${met} of ${report.targets.length} checks met${failed ? `, ${failed} missed` : ''}${aboveAim ? `, ${aboveAim} above their aim (reported, never failed)` : ''}`],
      table: { head: TARGET_COLUMNS, rows: targetRows(report.targets) },
    });
  }
  return sections;
}

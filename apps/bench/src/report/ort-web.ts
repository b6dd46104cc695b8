import { shapeLabel } from '../metrics.js';
import { ORT_WEB_PEERS, type OrtWebPeerName, type OrtWebReport } from '../ort-web/peer.js';
import { comparisonTable, percent, sig3 } from './format.js';
import type { BenchReport } from './report.js';
import type { Section } from './sections.js';

const dash = '–';
const SHORT: Record<OrtWebPeerName, string> = { 'ort-web-f32': 'ORT f32', 'ort-web-f16': 'ORT f16' };

/** The peer table: one line per (peer, shape). */
export const ORT_WEB_COLUMNS = ['peer', 'op', 'shape', 'median ms', 'host ms', 'TOPS', 'rel L2 (vs fp64)', 'timer / status'];

export function ortWebRows(report: OrtWebReport): string[][] {
  return report.cells.map((c) => [
    c.peer,
    c.op ?? dash,
    shapeLabel(c.shape),
    c.medianMs !== undefined ? sig3(c.medianMs) : dash,
    c.hostMedianMs !== undefined ? sig3(c.hostMedianMs) : dash,
    c.tops !== undefined ? sig3(c.tops) : dash,
    c.accuracy ? percent(c.accuracy.relL2) : dash,
    c.status === 'ok' ? (c.timer ?? '') : `${c.status} ${c.error?.code ?? ''}`.trim(),
  ]);
}

/**
 * qattn's WebGPU cells against each onnxruntime-web precision of the same shape: qattn's path, kernel and call TOPS,
 * then per peer its TOPS and the two ratios (qattn kernel ÷ peer, qattn call ÷ peer; above 1: qattn is faster).
 */
export function ortWebComparison(report: BenchReport): { head: string[]; rows: string[][] } {
  return comparisonTable(report, report.ortWeb?.ratios ?? [], report.ortWeb?.cells ?? [], ORT_WEB_PEERS, SHORT, ['path', (cell) => cell.timing?.path ?? dash]);
}

/** The peer table and the ratio table of a report's onnxruntime-web section. */
export function ortWebSections(report: BenchReport): Section[] {
  const o = report.ortWeb;
  if (!o) return [];
  const where = o.status === 'ok' ? ` ${o.version} on ${o.adapter}${o.shaderF16 ? '' : ' (no shader-f16: f32 only)'}` : '';
  const sections: Section[] = [
    {
      title: 'Peers (onnxruntime-web WebGPU, same adapter)',
      intro: [`onnxruntime-web: ${o.status}${o.reason ? ` — ${o.reason}` : ''}${where}`],
      ...(o.cells.length ? { table: { head: ORT_WEB_COLUMNS, rows: ortWebRows(o) } } : {}),
      legend: o.cells.length
        ? ['median ms: GPU time of one run() (timestamps around its submissions); host ms: run() until the queue is idle. Inputs and outputs are device buffers; rel L2 on the last query rows of the last batch, query head 1.']
        : [],
      notes: [...new Set(o.cells.filter((c) => c.error).map((c) => `${c.peer}: ${c.status} (${c.error!.code}): ${c.error!.message}`))],
    },
  ];
  if (o.ratios.length) {
    sections.push({
      title: 'qattn ÷ onnxruntime-web',
      intro: ['Ratios above 1: qattn is faster. kernel = the attention kernel on quantized inputs; call = the whole call, quantization of fp32 inputs included.'],
      table: ortWebComparison(report),
    });
  }
  return sections;
}

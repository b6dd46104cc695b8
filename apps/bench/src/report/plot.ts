import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchReport } from './report.js';

/** A vega-lite spec, kept loose: the bench writes literal specs and lets vega-lite validate them. */
type VegaLiteSpec = Record<string, unknown>;

/** One point of the TOPS chart: a qattn cell or a peer cell. */
interface TopsPoint {
  seqKV: number;
  tops: number;
  series: string;
  family: string;
}

const familyOf = (s: { batch: number; heads: number; kvHeads: number; seqQ: number; seqKV: number; headDim: number; causal: boolean }) =>
  `B${s.batch} H${s.heads}${s.kvHeads !== s.heads ? `/${s.kvHeads}` : ''} D${s.headDim} ${s.seqQ === s.seqKV ? 'Sq=Skv' : `Sq${s.seqQ}`}${s.causal ? ' causal' : ''}`;

// Legend labels untruncated: a series name is the only thing telling the lines apart.
const PLOT_CONFIG = { font: 'DejaVu Sans', legend: { labelLimit: 0 } };

/** TOPS vs sequence length, one line per algorithm·backend (peers included), one panel per shape family. */
export function topsSpec(report: BenchReport): VegaLiteSpec {
  const values: TopsPoint[] = report.cells
    .filter((c) => c.status === 'ok' && c.tops !== undefined)
    .map((c) => ({ seqKV: c.shape.seqKV, tops: c.tops!, series: `${c.algorithm} · ${c.backend}`, family: familyOf(c.shape) }));
  for (const p of report.peers?.cells ?? []) {
    if (p.status === 'ok' && p.tops !== undefined) values.push({ seqKV: p.shape.seqKV, tops: p.tops, series: `${p.peer} · cuda`, family: familyOf(p.shape) });
  }
  for (const p of report.ortWeb?.cells ?? []) {
    if (p.status === 'ok' && p.tops !== undefined) values.push({ seqKV: p.shape.seqKV, tops: p.tops, series: `${p.peer} · webgpu`, family: familyOf(p.shape) });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `qattn-bench ${report.config.preset}: TOPS vs sequence length (median, 4·B·H·pairs·D / t)`,
    data: { values },
    facet: { column: { field: 'family', type: 'nominal', title: null } },
    spec: {
      width: 260,
      height: 220,
      layer: [{ mark: { type: 'line', point: true } }],
      encoding: {
        x: { field: 'seqKV', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'seqKV' },
        y: { field: 'tops', type: 'quantitative', scale: { type: 'log' }, title: 'TOPS' },
        color: { field: 'series', type: 'nominal', title: 'algorithm · backend' },
      },
    },
    config: PLOT_CONFIG,
  };
}

/** Worst and median relative L2 per algorithm·backend over the sweep's shapes. */
export function accuracySpec(report: BenchReport): VegaLiteSpec {
  const values = report.cells
    .filter((c) => c.accuracy)
    .map((c) => ({ algorithm: c.algorithm, backend: c.backend, relL2Percent: c.accuracy!.relL2 * 100, cos: c.accuracy!.cos, family: familyOf(c.shape) }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `relative L2 vs @qattn/reference float64 (${report.config.inputs}): bars = worst shape, ticks = each shape`,
    data: { values },
    width: 360,
    height: 240,
    encoding: {
      x: { field: 'algorithm', type: 'nominal', title: 'algorithm', axis: { labelAngle: -20 } },
      xOffset: { field: 'backend', type: 'nominal' },
      color: { field: 'backend', type: 'nominal', title: 'backend' },
    },
    layer: [
      { mark: { type: 'bar', opacity: 0.6 }, encoding: { y: { aggregate: 'max', field: 'relL2Percent', type: 'quantitative', title: 'relative L2 (%)' } } },
      { mark: { type: 'tick', color: 'black' }, encoding: { y: { field: 'relL2Percent', type: 'quantitative' } } },
    ],
    config: PLOT_CONFIG,
  };
}

/** Renders a vega-lite spec to SVG through vega's headless view (no canvas needed). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const vegaLite = await import('vega-lite');
  const vega = await import('vega');
  const compiled = vegaLite.compile(spec as unknown as Parameters<typeof vegaLite.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterizes an SVG to PNG with resvg (2× zoom, white background, system fonts). */
export async function renderPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/** Writes tops-vs-seq.{svg,png,vl.json} and accuracy.{svg,png,vl.json} into `dir`; returns the written paths. */
export async function writePlots(dir: string, report: BenchReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, spec] of [
    ['tops-vs-seq', topsSpec(report)],
    ['accuracy', accuracySpec(report)],
  ] as const) {
    const svg = await renderSvg(spec);
    const files: Array<[string, string | Buffer]> = [
      [`${name}.vl.json`, `${JSON.stringify(spec, null, 2)}\n`],
      [`${name}.svg`, svg],
      [`${name}.png`, await renderPng(svg)],
    ];
    for (const [file, content] of files) {
      await writeFile(join(dir, file), content);
      written.push(join(dir, file));
    }
  }
  return written;
}

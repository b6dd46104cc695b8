import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Title,
  Tooltip,
} from 'chart.js';
import type { AttentionRow, DecodeReport } from './demo-results.js';

// Register only what the three charts use, so the bundle carries no other controllers.
Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, LineController, LineElement, PointElement, Legend, Title, Tooltip);

const KERNEL_COLORS: Record<AttentionRow['kernel'], string> = {
  'flash-int8': '#2563eb',
  'turbo-attn': '#059669',
  float32: '#9ca3af',
  float16: '#6b7280',
};

function ran(rows: readonly AttentionRow[]): AttentionRow[] {
  return rows.filter((row) => row.tops !== undefined && row.relL2 !== undefined);
}

function shortName(row: AttentionRow): string {
  return `${row.kernel} (${row.backend})`;
}

/**
 * Throughput of each kernel that ran on the same workload: in TOPS, or GOPS when every kernel is under 0.1 TOPS (a
 * software adapter, the CPU backends), where TOPS axis labels would be strings of zeros.
 */
export function throughputChart(canvas: HTMLCanvasElement, rows: readonly AttentionRow[]): Chart {
  const shown = ran(rows);
  const giga = Math.max(...shown.map((row) => row.tops ?? 0)) < 0.1;
  const unit = giga ? 'GOPS' : 'TOPS';
  return new Chart(canvas, {
    type: 'bar',
    data: {
      labels: shown.map(shortName),
      datasets: [{ label: unit, data: shown.map((row) => (row.tops ?? 0) * (giga ? 1000 : 1)), backgroundColor: shown.map((row) => KERNEL_COLORS[row.kernel]) }],
    },
    // No animation: the browser test's screenshot must show the final bars.
    options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false }, title: { display: true, text: `Throughput (${unit}, higher is better)` } } },
  });
}

/** Relative L2 error against float64 of each kernel that ran, next to the bound its package states (log scale). */
export function accuracyChart(canvas: HTMLCanvasElement, rows: readonly AttentionRow[]): Chart {
  const shown = ran(rows);
  return new Chart(canvas, {
    type: 'bar',
    data: {
      labels: shown.map(shortName),
      datasets: [
        { label: 'relative L2 vs float64', data: shown.map((row) => row.relL2 ?? 0), backgroundColor: shown.map((row) => KERNEL_COLORS[row.kernel]) },
        { label: 'stated bound', data: shown.map((row) => row.bound), backgroundColor: '#fca5a5' },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        // Label only the powers of ten: the log scale's default ticks crowd the axis with 0.0050000-style labels.
        y: { type: 'logarithmic', ticks: { callback: (value) => (Number.isInteger(Math.log10(Number(value))) ? Number(value).toExponential(0) : '') } },
      },
      plugins: { title: { display: true, text: 'Accuracy (relative L2 vs float64, lower is better)' } },
    },
  });
}

/**
 * Wall-clock time of each decode step (append + turboDecode) after the first: the first one warms up (kernel
 * compilation, JIT) and would flatten the rest of the curve; the page states its time in words.
 */
export function decodeChart(canvas: HTMLCanvasElement, decode: DecodeReport): Chart {
  const first = decode.stepMs.length > 1 ? 1 : 0;
  const steps = decode.stepMs.slice(first);
  return new Chart(canvas, {
    type: 'line',
    data: {
      labels: steps.map((_, i) => String(decode.promptTokens + first + i + 1)),
      datasets: [{ label: `step time (ms), ${decode.cacheBackend} cache`, data: steps, borderColor: KERNEL_COLORS['turbo-attn'], pointRadius: 2 }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { x: { title: { display: true, text: 'tokens in the cache' } }, y: { beginAtZero: true, title: { display: true, text: 'ms' } } },
      plugins: { title: { display: true, text: 'Decode steps over the quantized KV cache' } },
    },
  });
}

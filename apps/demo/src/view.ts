import type { AttentionReport, AttentionRow, DecodeReport, WebGpuStatus } from './demo-results.js';
import { PRESETS, type Workload } from './workload.js';

type Child = Node | string;

/** A DOM element with attributes and children; text goes in as text nodes, never as HTML. */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toFixed(3));
const percent = (value: number): string => (value >= 1e-3 ? `${(value * 100).toFixed(2)}%` : value.toExponential(1));
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

/** The banner that says whether WebGPU runs here, on which adapter, or why not. */
export function renderWebGpuStatus(container: HTMLElement, status: WebGpuStatus): void {
  container.className = status.available ? 'banner ok' : 'banner missing';
  container.replaceChildren();
  if (status.available) {
    const features = [`shader-f16: ${status.shaderF16 ? 'yes' : 'no'}`, `dot4I8Packed: ${status.packedDot4 ? 'yes' : 'no'}`, `timestamp-query: ${status.timestampQuery ? 'yes' : 'no'}`];
    container.append(
      el('strong', {}, 'WebGPU: '),
      `${status.adapter} — ${features.join(', ')}`,
    );
    if (status.software) {
      // The transformer preset takes minutes on a CPU-emulated adapter; the ci size shows the same comparison in seconds.
      container.append(
        el('br'),
        'A software adapter (the GPU is emulated on the CPU): its times say little about a GPU, and large sizes take minutes — ',
        el('a', { href: '?size=ci' }, 'size=ci'),
        ' runs in seconds.',
      );
    }
    return;
  }
  container.append(
    el('strong', {}, 'WebGPU is missing. '),
    `${status.reason} The INT8 kernels run on their CPU backends instead and the WebGPU float baselines are skipped; ` +
      'use a Chromium-based browser (Chrome, Edge) with WebGPU for the GPU comparison.',
  );
}

/** What runs, and a form to pick another size. */
export function renderWorkload(container: HTMLElement, workload: Workload): void {
  const { shape, causal, decodeSteps } = workload;
  const select = el('select', { name: 'size' });
  for (const name of Object.keys(PRESETS)) {
    const option = el('option', { value: name }, name);
    option.selected = name === workload.preset;
    select.append(option);
  }
  const causalBox = el('input', { type: 'checkbox', name: 'causal', value: '1' });
  causalBox.checked = causal;
  const form = el('form', {}, el('label', {}, 'size ', select), ' ', el('label', {}, causalBox, ' causal'), ' ', el('button', { type: 'submit' }, 'Run'));
  form.addEventListener('submit', (event) => {
    // Built by hand: a native submit would drop an unchecked box, and "not causal" must reach the URL as causal=0.
    event.preventDefault();
    const params = new URLSearchParams({ size: select.value, causal: causalBox.checked ? '1' : '0' });
    location.search = params.toString();
  });
  container.replaceChildren(
    el(
      'p',
      {},
      el('strong', {}, 'Workload: '),
      `batch ${shape.batch}, ${shape.heads} query heads sharing ${shape.kvHeads} kv heads, ${shape.seqQ} tokens, head dim ${shape.headDim}` +
        `${causal ? ', causal' : ''}; then ${decodeSteps} decode steps. LLM-like data from @qattn/reference (outlier K channels, an attention sink, heavy-tailed V).`,
    ),
    form,
  );
}

function statusCell(row: AttentionRow): HTMLTableCellElement {
  if (row.error) return el('td', { class: 'bad' }, row.error);
  if (row.skipped) return el('td', { class: 'muted' }, `skipped: ${row.skipped}`);
  const within = row.relL2 !== undefined && row.relL2 <= row.bound;
  return el('td', { class: within ? 'good' : 'bad' }, within ? 'within bound' : 'OVER BOUND');
}

/** The attention table: time, TOPS, speed-up over f32 and accuracy of each kernel. */
export function renderAttention(container: HTMLElement, report: AttentionReport): { throughput: HTMLCanvasElement; accuracy: HTMLCanvasElement } {
  const f32 = report.rows.find((row) => row.kernel === 'float32' && row.medianMs !== undefined);
  const header = el('tr', {}, ...['kernel', 'backend', 'time (ms)', 'TOPS', '× f32 WGSL', 'rel. L2 vs float64', 'stated bound', ''].map((text) => el('th', {}, text)));
  const body = report.rows.map((row) =>
    el(
      'tr',
      { 'data-kernel': row.kernel },
      el('td', {}, row.label),
      el('td', {}, row.backend),
      el('td', { class: 'num' }, row.medianMs === undefined ? '—' : ms(row.medianMs)),
      el('td', { class: 'num' }, row.tops === undefined ? '—' : row.tops.toPrecision(3)),
      el('td', { class: 'num' }, f32?.medianMs !== undefined && row.medianMs !== undefined ? `${(f32.medianMs / row.medianMs).toFixed(2)}×` : '—'),
      el('td', { class: 'num' }, row.relL2 === undefined ? '—' : percent(row.relL2)),
      el('td', { class: 'num' }, percent(row.bound)),
      statusCell(row),
    ),
  );
  const timers = [...new Set(report.rows.flatMap((row) => (row.timer ? [row.timer] : [])))].join(', ');
  const throughput = el('canvas');
  const accuracy = el('canvas');
  container.replaceChildren(
    el('h2', {}, 'Prefill attention'),
    el('table', {}, el('thead', {}, header), el('tbody', {}, ...body)),
    el(
      'p',
      { class: 'note' },
      `Times are medians (timer: ${timers || 'none'}); the INT8 kernels include quantizing q, k and v. TOPS = 4·B·H·N²·D / time` +
        `, halved when causal. Accuracy on the LLM-like inputs against float64 attention over ${report.referenceRows} ` +
        `(${ms(report.referenceMs)} ms in JavaScript).`,
    ),
    el('div', { class: 'charts' }, el('div', { class: 'chart' }, throughput), el('div', { class: 'chart' }, accuracy)),
  );
  return { throughput, accuracy };
}

/** Tokens per second, cache memory and accuracy of the decode loop. */
export function renderDecode(container: HTMLElement, decode: DecodeReport): HTMLCanvasElement {
  const { memory } = decode;
  const facts: Array<[string, string]> = [
    ['KV cache', `${decode.cacheBackend}${decode.fallbackReason ? ` (not webgpu: ${decode.fallbackReason})` : ''}`],
    ['prompt', `${decode.promptTokens} tokens appended in ${ms(decode.promptAppendMs)} ms`],
    [
      'decode',
      `${decode.tokensPerSecond.toFixed(1)} tokens/s over ${decode.steps} steps of append + turboDecode ` +
        (decode.steps > 1
          ? `(not counting the first, ${ms(decode.stepMs[0])} ms, which warms up: kernel compilation on a GPU, JIT on the CPU)`
          : '(one step: warm-up included)'),
    ],
    [
      'cache memory',
      `${mib(memory.allocatedBytes)} for ${memory.tokens.total} tokens — fp16 would take ${mib(memory.fp16Bytes)}: ${memory.compressionRatio.toFixed(2)}× smaller ` +
        `(${memory.tokens.sink} float32 sink, ${memory.tokens.paged} in INT4 pages, ${memory.tokens.buffered} in the INT8 buffer)`,
    ],
    ['accuracy', `${percent(decode.relL2)} relative L2 over the ${decode.steps} decoded tokens vs float64 over the unquantized K/V (stated bound ${percent(decode.bound)})`],
  ];
  const canvas = el('canvas');
  container.replaceChildren(
    el('h2', {}, 'Decode over the quantized KV cache'),
    el('dl', {}, ...facts.flatMap(([term, text]) => [el('dt', {}, term), el('dd', { class: term === 'accuracy' && !(decode.relL2 <= decode.bound) ? 'bad' : '' }, text)])),
    el('div', { class: 'chart wide' }, canvas),
  );
  return canvas;
}

/** An error that stopped the page. */
export function renderError(container: HTMLElement, message: string): void {
  container.className = 'banner missing';
  container.replaceChildren(el('strong', {}, 'The demo stopped: '), message);
}

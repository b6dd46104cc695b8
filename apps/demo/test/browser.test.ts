import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type PreviewServer, build, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoResults } from '../src/demo-results.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ARTIFACTS = join(ROOT, '.artifacts');
const CHROMIUM = process.env.QATTN_CHROMIUM ?? '/usr/bin/chromium';
// CI installs Chromium (tooling/ci/install-webgpu.sh): there a missing browser fails instead of skipping.
const required = process.env.QATTN_EXPECT_BROWSER === '1' || process.env.CI === 'true';
const available = existsSync(CHROMIUM);
if (!available && required) {
  throw new Error(`the demo's browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or tooling/ci/install-webgpu.sh; QATTN_CHROMIUM=path)`);
}
if (!available) console.warn(`demo browser test skipped: no Chromium at ${CHROMIUM} (set QATTN_CHROMIUM=path; QATTN_EXPECT_BROWSER=1 makes this an error)`);

// Headless Chromium on a machine without a GPU gets WebGPU from SwiftShader, the Vulkan implementation it ships:
// `--enable-unsafe-webgpu` is all it takes (it also allows the fallback adapter). Background networking is off
// because a closed network refuses Chromium's update and sync connections.
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const PAGE_TIMEOUT_MS = 75_000;

/** Loads the page, waits for it to finish, and returns what it published plus anything it logged as an error. */
async function runPage(page: Page, url: string): Promise<{ results: DemoResults; pageErrors: string[] }> {
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(url);
  await page.waitForFunction(() => window.qattnDemo !== undefined && window.qattnDemo.status !== 'running', undefined, { timeout: PAGE_TIMEOUT_MS });
  const results = (await page.evaluate(() => window.qattnDemo)) as DemoResults;
  if (results.status !== 'done') throw new Error(`the demo stopped: ${results.error} (page errors: ${pageErrors.join(' | ') || 'none'})`);
  return { results, pageErrors };
}

function expectDecodeSane(results: DemoResults): void {
  const decode = results.decode;
  expect(decode, 'decode report').toBeDefined();
  if (!decode) return;
  expect(decode.steps).toBe(results.workload?.decodeSteps);
  expect(decode.stepMs.every((ms) => Number.isFinite(ms) && ms > 0)).toBe(true);
  expect(decode.tokensPerSecond).toBeGreaterThan(0);
  expect(Number.isFinite(decode.tokensPerSecond)).toBe(true);
  expect(decode.relL2).toBeLessThanOrEqual(decode.bound);
  expect(decode.memory.compressionRatio).toBeGreaterThan(1);
  expect(decode.memory.tokens.total).toBe(decode.promptTokens + decode.steps);
  if (decode.cacheBackend === 'cpu') expect(decode.fallbackReason, 'a CPU cache says why it is not on WebGPU').toBeTruthy();
}

describe.skipIf(!available)('the demo page in headless Chromium', () => {
  let outDir = '';
  let server: PreviewServer | undefined;
  let origin = '';
  let browser: Browser | undefined;

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'qattn-demo-'));
    await build({ root: ROOT, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port: 0, open: false } });
    const url = server.resolvedUrls?.local[0];
    if (!url) throw new Error('vite preview did not report its address');
    origin = url.replace(/\/$/, '');
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('runs INT8 attention on WebGPU next to the float baseline, decodes over the quantized cache, and its numbers are sane', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--enable-unsafe-webgpu'] });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const { results, pageErrors } = await runPage(page, `${origin}/?size=ci`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'demo.png'), fullPage: true });
    console.info(`demo page on ${results.webgpu?.adapter}: ${JSON.stringify(results.attention?.rows.map((row) => [row.kernel, row.medianMs, row.relL2]))}`);

    expect(pageErrors).toEqual([]);
    expect(results.webgpu?.available, results.webgpu?.reason).toBe(true);
    await expect(page.locator('#webgpu').innerText()).resolves.toMatch(/^WebGPU: navigator/);
    const rows = results.attention?.rows ?? [];
    expect(rows.map((row) => row.kernel)).toEqual(['flash-int8', 'turbo-attn', 'float32', 'float16']);
    for (const row of rows) {
      expect(row.error, row.kernel).toBeUndefined();
      // f16 needs shader-f16, which SwiftShader lacks; every other row must run.
      if (row.skipped) {
        expect(row.kernel).toBe('float16');
        expect(row.skipped).toMatch(/shader-f16/);
        continue;
      }
      expect(row.backend, row.kernel).toBe('webgpu');
      expect(Number.isFinite(row.medianMs) && (row.medianMs ?? 0) > 0, `${row.kernel} time ${row.medianMs}`).toBe(true);
      expect(Number.isFinite(row.tops) && (row.tops ?? 0) > 0, `${row.kernel} TOPS ${row.tops}`).toBe(true);
      expect(row.relL2, row.kernel).toBeLessThanOrEqual(row.bound);
    }
    expectDecodeSane(results);
    // Two attention charts and the decode chart were drawn.
    await expect(page.locator('canvas').count()).resolves.toBe(3);
  });

  it('says clearly when WebGPU is missing and still runs the CPU parts', async () => {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext();
    // A browser without WebGPU: navigator.gpu removed before any page script runs.
    await context.addInitScript(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    const page = await context.newPage();
    const { results } = await runPage(page, `${origin}/?size=ci&steps=4`);
    expect(results.webgpu?.available).toBe(false);
    await expect(page.locator('#webgpu').innerText()).resolves.toMatch(/^WebGPU is missing\. This browser has no navigator\.gpu/);
    const rows = results.attention?.rows ?? [];
    for (const row of rows.filter((row) => row.kernel === 'flash-int8' || row.kernel === 'turbo-attn')) {
      expect(row.backend).toBe('cpu');
      expect(row.error, row.kernel).toBeUndefined();
      expect(row.relL2, row.kernel).toBeLessThanOrEqual(row.bound);
      expect(row.tops, row.kernel).toBeGreaterThan(0);
    }
    expect(rows.filter((row) => row.skipped === 'needs WebGPU').map((row) => row.kernel)).toEqual(['float32', 'float16']);
    expectDecodeSane(results);
    expect(results.decode?.cacheBackend).toBe('cpu');
    await context.close();
  });
});

import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { webGpuRequired } from './webgpu-test-env.js';

const CHROMIUM = process.env.QATTN_CHROMIUM ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && webGpuRequired) {
  throw new Error(`browser test needs ${CHROMIUM} (apt-get install chromium; tooling/ci/install-webgpu.sh)`);
}
if (!available) console.warn(`browser test skipped: no ${CHROMIUM} (set QATTN_EXPECT_WEBGPU=1 to make this an error)`);

async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./browser-page.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    write: false,
    logLevel: 'error',
  });
  return result.outputFiles[0].text;
}

describe.skipIf(!available)('flash-int8 webgpu in headless Chromium', () => {
  it('runs the INT8 kernels on navigator.gpu and agrees with the CPU oracle and float64', async () => {
    const script = await bundlePage();
    const server = http.createServer((request, response) => {
      if (request.url === '/page.js') {
        response.setHeader('content-type', 'text/javascript');
        response.end(script);
        return;
      }
      response.setHeader('content-type', 'text/html');
      response.end('<!doctype html><html><head><script type="module" src="/page.js"></script></head><body>qattn</body></html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Background networking off: this machine's closed network refuses Chromium's update and sync connections.
      args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => window.qattnResults !== undefined, undefined, { timeout: 150_000 });
      const results = await page.evaluate(() => window.qattnResults);
      if (!results || 'error' in results) throw new Error(`page failed: ${results?.error}`);
      console.info(`browser adapter: ${results.adapter} (packedDot4: ${results.packedDot4})`);
      expect(results.adapter).toMatch(/^navigator/);
      expect(results.cases).toHaveLength(3);
      for (const result of results.cases) {
        // The issue-2 bars on LLM-like data (int8 PV 2%, fp16 PV 1.5%) and the CPU-oracle agreement of conformance.test.ts.
        expect(result.relL2, result.name).toBeLessThanOrEqual(result.name.includes('fp16') ? 0.015 : 0.02);
        expect(result.oracleRelL2, result.name).toBeLessThanOrEqual(5e-4);
      }
    } finally {
      await browser.close();
      server.close();
    }
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonCandidates, buildFromSourceCommand, loadAddon, nativeTarget } from './node-loader.js';

/** A fake project: node_modules/@qattn/fake (the owner) and, optionally, its platform package. */
function fakeProject(withPlatformPackage: boolean, addonBytes?: string): string {
  const root = mkdtempSync(path.join(tmpdir(), 'qattn-loader-'));
  const owner = path.join(root, 'node_modules', '@qattn', 'fake');
  mkdirSync(owner, { recursive: true });
  writeFileSync(path.join(owner, 'package.json'), JSON.stringify({ name: '@qattn/fake', version: '0.0.0' }));
  if (withPlatformPackage) {
    const platform = path.join(root, 'node_modules', '@qattn', `fake-${nativeTarget()}`);
    mkdirSync(platform, { recursive: true });
    writeFileSync(path.join(platform, 'package.json'), JSON.stringify({ name: `@qattn/fake-${nativeTarget()}`, version: '0.0.0' }));
    if (addonBytes !== undefined) writeFileSync(path.join(platform, 'fake.node'), addonBytes);
  }
  return owner;
}

describe('nativeTarget', () => {
  it('spells targets as the per-platform package suffixes', () => {
    expect(nativeTarget('linux', 'x64', 'gnu')).toBe('linux-x64-gnu');
    expect(nativeTarget('linux', 'arm64', 'musl')).toBe('linux-arm64-musl');
    expect(nativeTarget('darwin', 'arm64')).toBe('darwin-arm64');
    expect(nativeTarget('win32', 'x64')).toBe('win32-x64');
  });
});

describe('addonCandidates', () => {
  it('orders env override, platform package, build from source', () => {
    const owner = fakeProject(true);
    const candidates = addonCandidates(owner, 'fake.node', '@qattn/fake', 'QATTN_FAKE_ADDON', nativeTarget(), { QATTN_FAKE_ADDON: '/x/fake.node' });
    expect(candidates.map((c) => c.source)).toEqual(['env', 'prebuilt', 'source-build']);
    expect(candidates[0]!.file).toBe('/x/fake.node');
    expect(candidates[1]!.file).toBe(path.join(path.dirname(owner), `fake-${nativeTarget()}`, 'fake.node'));
    expect(candidates[2]!.file).toBe(path.join(owner, 'build', 'Release', 'fake.node'));
  });

  it('says why the platform package is absent: omitted on a prebuilt target, none on others', () => {
    const owner = fakeProject(false);
    const onLinux = addonCandidates(owner, 'fake.node', '@qattn/fake', 'QATTN_FAKE_ADDON', 'linux-x64-gnu', {});
    expect(onLinux[0]!.missing).toMatch(/QATTN_FAKE_ADDON is unset/);
    expect(onLinux[1]!.missing).toMatch(/@qattn\/fake-linux-x64-gnu is not installed/);
    const onArm = addonCandidates(owner, 'fake.node', '@qattn/fake', 'QATTN_FAKE_ADDON', 'linux-arm64-gnu', {});
    expect(onArm[1]!.missing).toMatch(/no prebuilt addon for linux-arm64-gnu \(prebuilt: linux-x64-gnu\)/);
  });
});

describe('loadAddon', () => {
  it('names the build-from-source command when no addon exists anywhere', () => {
    const owner = fakeProject(false);
    expect(() => loadAddon(owner, 'fake.node', '@qattn/fake', 'QATTN_FAKE_ADDON_UNSET')).toThrow(
      expect.objectContaining({ code: 'ERR_QATTN_BACKEND_UNAVAILABLE', message: expect.stringContaining(`\`${buildFromSourceCommand('@qattn/fake')}\``) }),
    );
    expect(buildFromSourceCommand('@qattn/fake')).toBe('npx qattn-build-cuda @qattn/fake');
  });

  it('reports a platform addon that fails to load, with the cause, and still names the command', () => {
    const owner = fakeProject(true, 'not an ELF file');
    let error: (Error & { code?: string; cause?: unknown }) | undefined;
    try {
      loadAddon(owner, 'fake.node', '@qattn/fake', 'QATTN_FAKE_ADDON_UNSET');
    } catch (err) {
      error = err as Error & { code?: string };
    }
    expect(error?.code).toBe('ERR_QATTN_BACKEND_UNAVAILABLE');
    expect(error?.message).toMatch(/failed to load/);
    expect(error?.message).toContain('npx qattn-build-cuda @qattn/fake');
    expect(error?.cause).toBeInstanceOf(Error);
  });
});

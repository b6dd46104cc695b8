#!/usr/bin/env node
// The per-platform packages that carry prebuilt CUDA addons, derived from the workspace: every package under
// packages/ with a CMakeLists.txt has an addon, and gets one package per target in npm/<package>-<target>/
// (npm/README.md explains the layout). Nothing here names a package, so a new native package is picked up as is.
//   node tooling/scripts/native-packages.mjs list            JSON: native packages, addon files, platform packages
//   node tooling/scripts/native-packages.mjs sync            (re)write npm/*/package.json + README.md from the owners
//   node tooling/scripts/native-packages.mjs check           fail when a folder, version or owner field is out of sync
//   node tooling/scripts/native-packages.mjs copy-addons     copy each built build/Release/<addon> into npm/<…>/
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Targets with prebuilt addons (keep in step with PREBUILT_NATIVE_TARGETS in cuda-runtime's src/node-loader.ts). */
export const TARGETS = [{ id: 'linux-x64-gnu', os: ['linux'], cpu: ['x64'], libc: ['glibc'], label: 'Linux x64 (glibc)' }];

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** The addon target of a CMakeLists.txt: a qattn_kernel_addon(<name> …) call, else the project name. */
function addonFileName(cmakeLists) {
  const text = readFileSync(cmakeLists, 'utf8');
  const name = /qattn_kernel_addon\(\s*(\w+)/.exec(text)?.[1] ?? /project\(\s*(\w+)/.exec(text)?.[1];
  if (!name) throw new Error(`${cmakeLists}: no qattn_kernel_addon(<target>) or project(<name>) to name the addon`);
  return `${name}.node`;
}

export function nativePackages() {
  const packagesDir = path.join(root, 'packages');
  return readdirSync(packagesDir)
    .filter((entry) => existsSync(path.join(packagesDir, entry, 'CMakeLists.txt')))
    .sort()
    .map((entry) => {
      const dir = path.join(packagesDir, entry);
      const manifest = readJson(path.join(dir, 'package.json'));
      const addon = addonFileName(path.join(dir, 'CMakeLists.txt'));
      return {
        name: manifest.name,
        version: manifest.version,
        dir,
        manifest,
        addon,
        platforms: TARGETS.map((target) => ({
          target,
          name: `${manifest.name}-${target.id}`,
          dir: path.join(root, 'npm', `${entry}-${target.id}`),
        })),
      };
    });
}

function platformManifest(owner, platform) {
  return {
    name: platform.name,
    version: owner.version,
    description: `The prebuilt CUDA addon of ${owner.name} for ${platform.target.label}: installed by npm as an optional dependency of ${owner.name}, loaded by it. Not for direct use.`,
    license: owner.manifest.license,
    os: platform.target.os,
    cpu: platform.target.cpu,
    libc: platform.target.libc,
    files: [owner.addon, 'README.md'],
    engines: owner.manifest.engines,
    publishConfig: { access: 'public' },
    scripts: {
      // A release without the built addon would install everywhere and load nowhere: refuse to publish it.
      prepublishOnly: `node -e "require('fs').accessSync('${owner.addon}')"`,
    },
  };
}

function platformReadme(owner, platform) {
  return `# ${platform.name}\n\nThe prebuilt CUDA addon (\`${owner.addon}\`: sm_90a and sm_80 machine code, compute_80 PTX, static cudart) of\n[\`${owner.name}\`](https://www.npmjs.com/package/${owner.name}) for ${platform.target.label}. npm installs it as an optional\ndependency of \`${owner.name}\` on matching machines; \`${owner.name}\` finds it at run time. Install \`${owner.name}\`,\nnot this package. Elsewhere, build the addon from source with \`npx qattn-build-cuda ${owner.name}\`.\n`;
}

function check() {
  const problems = [];
  for (const owner of nativePackages()) {
    const { manifest } = owner;
    for (const field of ['CMakeLists.txt', 'native']) {
      if (!manifest.files?.includes(field)) problems.push(`${owner.name}: package.json "files" lacks "${field}" (qattn-build-cuda builds from it)`);
    }
    if (!manifest.binary?.napi_versions) problems.push(`${owner.name}: package.json lacks "binary": { "napi_versions": [8] } (cmake-js builds against Node-API headers with it)`);
    for (const platform of owner.platforms) {
      if (manifest.optionalDependencies?.[platform.name] !== 'workspace:*') {
        problems.push(`${owner.name}: package.json "optionalDependencies" lacks "${platform.name}": "workspace:*"`);
      }
      const file = path.join(platform.dir, 'package.json');
      if (!existsSync(file)) {
        problems.push(`${platform.name}: ${path.relative(root, file)} is missing (node tooling/scripts/native-packages.mjs sync)`);
        continue;
      }
      const expected = JSON.stringify(platformManifest(owner, platform));
      if (JSON.stringify(readJson(file)) !== expected) {
        problems.push(`${platform.name}: ${path.relative(root, file)} differs from ${owner.name} (version ${owner.version}); run sync`);
      }
    }
  }
  return problems;
}

const command = process.argv[2];
if (command === 'list') {
  console.log(JSON.stringify(nativePackages().map(({ manifest, ...rest }) => rest), null, 2));
} else if (command === 'sync') {
  for (const owner of nativePackages()) {
    for (const platform of owner.platforms) {
      mkdirSync(platform.dir, { recursive: true });
      writeFileSync(path.join(platform.dir, 'package.json'), `${JSON.stringify(platformManifest(owner, platform), null, 2)}\n`);
      writeFileSync(path.join(platform.dir, 'README.md'), platformReadme(owner, platform));
      console.log(`${platform.name}@${owner.version}: ${path.relative(root, platform.dir)}`);
    }
  }
  const problems = check();
  for (const problem of problems) console.error(`still to do: ${problem}`);
  process.exit(problems.length > 0 ? 1 : 0);
} else if (command === 'check') {
  const problems = check();
  for (const problem of problems) console.error(problem);
  if (problems.length === 0) console.log(`native packages: ${nativePackages().map((owner) => owner.name).join(', ')} — platform packages in sync`);
  process.exit(problems.length > 0 ? 1 : 0);
} else if (command === 'copy-addons') {
  let missing = 0;
  for (const owner of nativePackages()) {
    const built = path.join(owner.dir, 'build', 'Release', owner.addon);
    for (const platform of owner.platforms) {
      if (!existsSync(built)) {
        console.error(`${owner.name}: ${path.relative(root, built)} is not built`);
        missing += 1;
        continue;
      }
      copyFileSync(built, path.join(platform.dir, owner.addon));
      console.log(`${path.relative(root, built)} -> ${path.relative(root, path.join(platform.dir, owner.addon))}`);
    }
  }
  process.exit(missing > 0 ? 1 : 0);
} else {
  console.error('usage: native-packages.mjs list|sync|check|copy-addons');
  process.exit(2);
}

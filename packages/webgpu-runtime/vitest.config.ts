import { readFileSync } from 'node:fs';
import { qattnVitest } from '@qattn/tooling/vitest';

const config = qattnVitest();

// Same as tsup's `loader: { '.wgsl': 'text' }`: a .wgsl import is its source text.
config.plugins = [
  {
    name: 'qattn-wgsl-text',
    load(id: string) {
      if (!id.endsWith('.wgsl')) return null;
      return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
    },
  },
];

export default config;

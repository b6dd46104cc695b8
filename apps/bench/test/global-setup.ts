import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync('pnpm', ['exec', 'tsup', '--silent'], { cwd: root, stdio: 'inherit' });
}

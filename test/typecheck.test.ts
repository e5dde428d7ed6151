// `pnpm typecheck` holds for the whole tree in CI too, which runs the test command only:
// Node strips types without checking them, so a type error would otherwise land unnoticed.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

test('tsc finds no type errors', { timeout: 240_000 }, async () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // The Node tree, and the web console (DOM types, JSX) with its own settings.
  for (const project of ['tsconfig.json', 'services/admin-api/web/tsconfig.json']) {
    const r = await promisify(execFile)(process.execPath, [tsc, '-p', project, '--noEmit'], { cwd: root, maxBuffer: 16 * 1024 * 1024 }).then(
      () => '',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
    );
    expect(r, project).toBe('');
  }
});

// `pnpm lint`'s rules (eslint.config.js) hold for the whole tree, so that CI, which runs the
// test command only, keeps them too.
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

// A whole-tree job on a shared CI machine beside every other test file: minutes, not seconds.
test('eslint finds nothing', { timeout: 240_000 }, async () => {
  const eslint = new ESLint({ cwd: fileURLToPath(new URL('..', import.meta.url)) });
  const results = await eslint.lintFiles(['.']);
  const problems = results.flatMap((r) => r.messages.map((m) => `${r.filePath}:${m.line}:${m.column} ${m.ruleId ?? ''} ${m.message}`));
  expect(problems).toEqual([]);
});

// `pnpm lint`: the typecheck (tsc) and these rules. ESLint's and typescript-eslint's
// recommended sets; unused names allowed when they start with _ (or are the rest siblings
// that omit a field); `any` allowed only where JSON of unknown shape is handled: tests, test
// helpers, and the CLI, which prints what the admin API returns.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.hopmail/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['**/*.test.ts', '**/test-*.ts', 'test/**', 'services/*/test/**', 'packages/test-kit/**', 'packages/cli/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);

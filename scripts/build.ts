// `pnpm build`: the compiled tree the images ship, in dist/ (or the directory given as the
// first argument). It has the repository's layout with .js files in place of .ts, so every
// start command in packages/service-kit/src/services.ts works in both trees:
//
//   dist/package.json, pnpm-workspace.yaml, pnpm-lock.yaml   (unchanged: `pnpm install --prod
//                                                             --frozen-lockfile` works in dist/)
//   dist/packages/<pkg>/package.json                          (exports point at the .js files)
//   dist/packages/<pkg>/src/**/*.js, packages/db/migrations/
//   dist/services/<svc>/package.json, services/<svc>/src/**/*.js
//   dist/scripts/*.js
//
// Workspace packages export ./src/*.ts for development; only the copies in dist/ are
// rewritten, so development, tests and `pnpm start` keep running the sources.
// packages/test-kit is a development dependency and stays out (its manifest is kept so
// the lockfile still matches; with --prod nothing installs it).

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = resolve(root, process.argv[2] ?? 'dist');
const EXCLUDED = new Set(['packages/test-kit']);

rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root, stdio: 'inherit' });
} catch {
  process.stderr.write('build: tsc failed\n');
  process.exit(1);
}

for (const file of ['package.json', 'pnpm-workspace.yaml', 'pnpm-lock.yaml']) cpSync(join(root, file), join(out, file));
// patchedDependencies (smtp-server's BDAT patch) must apply to the production install too.
cpSync(join(root, 'patches'), join(out, 'patches'), { recursive: true });
cpSync(join(root, 'packages/db/migrations'), join(out, 'packages/db/migrations'), { recursive: true });

/** './src/index.ts' → './src/index.js' everywhere in an exports map. */
function toJs(value: unknown): unknown {
  if (typeof value === 'string') return value.startsWith('./') ? value.replace(/\.ts$/, '.js') : value;
  if (Array.isArray(value)) return value.map(toJs);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJs(v)]));
  return value;
}

const problems: string[] = [];
for (const group of ['packages', 'services']) {
  for (const name of readdirSync(join(root, group))) {
    const dir = `${group}/${name}`;
    const manifestPath = join(root, dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
    mkdirSync(join(out, dir), { recursive: true });
    if (!EXCLUDED.has(dir)) {
      manifest.exports = toJs(manifest.exports);
      for (const target of JSON.stringify(manifest.exports ?? {}).match(/"\.\/[^"]+"/g) ?? []) {
        const rel = JSON.parse(target) as string;
        if (!existsSync(join(out, dir, rel))) problems.push(`${dir}: export ${rel} was not built`);
      }
    }
    writeFileSync(join(out, dir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
  }
}
if (problems.length) {
  process.stderr.write(`build: ${problems.join('\n')}\n`);
  process.exit(1);
}
// The web console: Vite's build of services/admin-api/web into the place admin-api serves it
// from (web/dist beside its compiled sources).
try {
  execFileSync(process.execPath, [join(root, 'services/admin-api/web/build.ts'), join(out, 'services/admin-api/web/dist')], { cwd: root, stdio: 'inherit' });
} catch {
  process.stderr.write('build: the web console failed to build\n');
  process.exit(1);
}
process.stdout.write(`build: compiled tree in ${out}\n`);

// Builds the web console with Vite: index.html and hashed assets (plus .br and .gz copies,
// which admin-api serves to clients that accept them) in web/dist, or in the directory given.
//
//   node services/admin-api/web/build.ts [outDir] [--if-stale]
//
// `pnpm build` calls it for the compiled tree; `pnpm start` and the browser tests call it with
// --if-stale, which builds only when the sources (or the lockfile) changed since the last
// build: a hash of them is kept in <outDir>/.source-hash. Builds go to a temporary directory
// renamed into place, under a lock directory, so parallel test files never see half a build.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build, type InlineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../../..');
export const DEFAULT_OUT = join(here, 'dist');
const HASH_FILE = '.source-hash';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !['dist', 'node_modules'].includes(e.name) && !e.name.startsWith('.') && !e.name.startsWith('dist.'))
    .flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** What the build depends on: every source file of the console and the lockfile. */
export function sourceHash(): string {
  const h = createHash('sha256');
  for (const f of [...sources(here), join(repo, 'pnpm-lock.yaml')]) h.update(relative(repo, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

export function viteConfig(outDir: string): InlineConfig {
  return {
    root: here,
    base: '/',
    logLevel: 'warn',
    configFile: false,
    publicDir: join(here, 'public'),
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    build: {
      outDir,
      emptyOutDir: true,
      assetsDir: 'assets',
      target: 'es2022',
      // Chromium, Firefox and Safari all support modulepreload; the polyfill would be dead code.
      modulePreload: { polyfill: false },
      reportCompressedSize: false,
      // No inline data: URLs for assets (the CSP allows img data: only for small icons anyway).
      assetsInlineLimit: 0,
    },
  };
}

function compressAssets(outDir: string): void {
  const assets = join(outDir, 'assets');
  if (!existsSync(assets)) return;
  for (const name of readdirSync(assets)) {
    if (!/\.(js|css|svg|json|map)$/.test(name)) continue;
    const data = readFileSync(join(assets, name));
    writeFileSync(join(assets, `${name}.gz`), gzipSync(data, { level: 9 }));
    writeFileSync(join(assets, `${name}.br`), brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }));
  }
}

function isFresh(outDir: string, hash: string): boolean {
  try {
    return readFileSync(join(outDir, HASH_FILE), 'utf8') === hash && existsSync(join(outDir, 'index.html'));
  } catch {
    return false;
  }
}

/** Waits for, then takes, the build lock (a directory: mkdir is atomic). A lock older than 5 minutes is a dead builder's. */
async function withLock<T>(outDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${outDir}.lock`;
  // The lock's parent may not exist yet (a fresh `pnpm build` tree); mkdir fails with EEXIST only when another builder holds the lock.
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile: try again
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export async function buildConsole(outDir = DEFAULT_OUT, options: { ifStale?: boolean } = {}): Promise<'built' | 'fresh'> {
  const hash = sourceHash();
  if (options.ifStale && isFresh(outDir, hash)) return 'fresh';
  return withLock(outDir, async () => {
    if (options.ifStale && isFresh(outDir, hash)) return 'fresh';
    const tmp = `${outDir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    await build(viteConfig(tmp));
    compressAssets(tmp);
    writeFileSync(join(tmp, HASH_FILE), hash);
    rmSync(outDir, { recursive: true, force: true });
    renameSync(tmp, outDir);
    return 'built';
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--'));
  const t = Date.now();
  const r = await buildConsole(out ? resolve(out) : DEFAULT_OUT, { ifStale: args.includes('--if-stale') });
  process.stdout.write(`console: ${r === 'built' ? `built in ${Date.now() - t} ms` : 'up to date'} (${relative(process.cwd(), out ? resolve(out) : DEFAULT_OUT) || '.'})\n`);
}

// Test-only: what the web console's browser tests share. Debian's Chromium driven by
// playwright-core (never a downloaded browser), launched headless with the flags that keep it
// quiet on a closed network and a fresh profile; axe-core injected into the page (evaluate()
// runs outside the page's CSP, so the console's policy stays as strict as in production);
// screenshots under test-artifacts/ (git-ignored); a raw SMTP "remote MX" whose replies the
// test chooses; and the console's build, made when its sources changed.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('..', import.meta.url));
export const ARTIFACTS = join(root, 'test-artifacts', 'console');

/** Builds services/admin-api/web into web/dist when its sources changed (shared by parallel files through a lock). */
export async function ensureConsoleBuilt(): Promise<void> {
  await promisify(execFile)(process.execPath, [join(root, 'services/admin-api/web/build.ts'), '--if-stale'], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'hopmail-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export const chromiumMissing = !existsSync(CHROMIUM);

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's serious and critical violations on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = (await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(o: unknown): Promise<{ violations: unknown[] }> } }).axe;
    return (await axe.run({ resultTypes: ['violations'] })).violations;
  })) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * A remote MX on 127.0.0.x speaking just enough SMTP: RCPT replies chosen per recipient
 * (default 250), everything else 250. Replies may carry any text, markup included.
 */
export async function startRawMx(host: string, rcptReplies: Record<string, string>): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((sock) => {
    let buf = '';
    let inData = false;
    sock.write('220 mx.remote.test ESMTP\r\n');
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            sock.write('250 2.0.0 queued\r\n');
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250-mx.remote.test\r\n250 8BITMIME\r\n');
        else if (verb === 'RCPT') {
          const addr = /<([^>]*)>/.exec(line)?.[1]?.toLowerCase() ?? '';
          sock.write(`${rcptReplies[addr] ?? '250 2.1.5 ok'}\r\n`);
        } else if (verb === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') {
          sock.end('221 bye\r\n');
        } else sock.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

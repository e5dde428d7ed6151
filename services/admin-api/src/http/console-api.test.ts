// The console cannot drift from the API: its types are generated from the OpenAPI document
// the routes produce, and this fails while the generated file is older than the routes. And
// the built console as admin-api serves it: strict headers, year-long caching of hashed
// assets, precompressed answers, and a first load within 200 KiB compressed.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATED_FILE, generate, openApiDocument } from '../../web/gen-api.ts';
import { buildTestApi, type ApiHarness } from '../../test/support.ts';
import { DEFAULT_CONSOLE_DIR } from './console.ts';

describe('the console API types', () => {
  it('are what gen-api.ts makes from the current routes (run `node services/admin-api/web/gen-api.ts` after changing a route)', async () => {
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(generate(await openApiDocument()));
  });
});

describe('the built console, served', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [fileURLToPath(new URL('../../web/build.ts', import.meta.url)), '--if-stale'], { maxBuffer: 16 * 1024 * 1024 });
    api = await buildTestApi();
  }, 120_000);
  afterAll(async () => api?.close());

  const get = (url: string, headers: Record<string, string> = {}) => api.app.server().inject({ method: 'GET', url, headers });

  it('answers / and any page address with index.html, uncached, under a strict CSP', async () => {
    for (const url of ['/', '/queue?status=held', '/messages/0190f0f0-0000-7000-8000-000000000000']) {
      const r = await get(url, { accept: 'text/html' });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type']).toMatch(/text\/html/);
      expect(r.headers['cache-control']).toBe('no-cache');
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      // No inline script or style in the page itself.
      expect(r.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(r.body).not.toMatch(/<style|style=/);
    }
    // The API and its documentation stay what they were.
    expect((await get('/v1/nope', { accept: 'text/html' })).statusCode).toBe(401);
    expect((await get('/nope.js')).statusCode).toBe(404);
    expect((await get('/nope')).json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('serves hashed assets for a year, precompressed, and the first load is within 200 KiB compressed', async () => {
    const html = readFileSync(join(DEFAULT_CONSOLE_DIR, 'index.html'), 'utf8');
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    let total = 0;
    for (const a of assets) {
      const r = await get(a, { 'accept-encoding': 'br, gzip' });
      expect(r.statusCode, a).toBe(200);
      expect(r.headers['cache-control'], a).toMatch(/max-age=31536000.*immutable|immutable.*max-age=31536000/);
      expect(r.headers['content-encoding'], a).toBe('br');
      expect(r.headers['content-security-policy'], a).toBeTruthy();
      total += r.rawPayload.length;
    }
    expect(total).toBeLessThanOrEqual(200 * 1024);
  });
});

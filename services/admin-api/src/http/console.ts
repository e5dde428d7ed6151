// The web console's files, on the API's own origin: the hashed assets Vite built (cached for a
// year: their names change with their content; served precompressed when the build wrote .br
// or .gz), and index.html (never cached) for `/` and for any other page address a browser asks
// for (the console routes in the page). Every answer carries a strict Content-Security-Policy
// (scripts and styles from this origin only: nothing inline) and refuses to be framed.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

/** Where `pnpm build` and `pnpm start` put the built console, next to this service's sources (or compiled files). */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(reply: FastifyReply): void {
  void reply.headers({
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  });
}

/** Paths that are never a console page: the API and its documentation. */
const NOT_PAGES = /^\/(v1|docs|assets)(\/|$)/;

/** Whether a request the router did not match is a browser asking for a console page. */
export function isPageRequest(req: FastifyRequest): boolean {
  const path = req.url.split('?')[0]!;
  return (req.method === 'GET' || req.method === 'HEAD') && !NOT_PAGES.test(path) && !/\.[a-z0-9]+$/i.test(path) && (req.headers.accept ?? '').includes('text/html');
}

export interface ConsoleOptions {
  /** CONSOLE_DIR: index.html and assets/ from the Vite build. */
  dir: string;
}

export interface ConsolePages {
  /** Answers a page address with index.html (or a note that the console is not built). */
  page(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}

export function consolePages({ dir }: ConsoleOptions): ConsolePages {
  return {
    async page(_req, reply) {
      securityHeaders(reply);
      void reply.header('cache-control', 'no-cache');
      const html = await readFile(join(dir, 'index.html'), 'utf8').catch(() => null);
      if (html === null) {
        await reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send(`The web console is not built in ${dir}.\nRun \`pnpm build\` (or \`pnpm start\`, which builds it when needed); the API at /v1 works without it.\n`);
        return;
      }
      await reply.type('text/html; charset=utf-8').send(html);
    },
  };
}

/** GET / and the hashed assets; other page addresses come through the not-found handler (server.ts). */
export const consolePlugin: FastifyPluginAsync<ConsoleOptions & { pages: ConsolePages }> = async (app, { dir, pages }) => {
  app.get('/', { schema: { hide: true } }, (req, reply) => pages.page(req, reply));
  app.addHook('onSend', async (_req, reply) => securityHeaders(reply));
  const assets = join(dir, 'assets');
  // index.html is read per request; the assets need the build to exist when the API starts
  // (`pnpm start` and the tests build it first).
  if (!existsSync(assets)) return;
  await app.register(fastifyStatic, {
    root: assets,
    prefix: '/assets/',
    // Hashed names: the content at a name never changes.
    immutable: true,
    maxAge: '365d',
    preCompressed: true,
    index: false,
    dotfiles: 'deny',
    decorateReply: false,
    schemaHide: true,
  });
};

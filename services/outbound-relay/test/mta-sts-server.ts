// A local MTA-STS policy host for tests: HTTPS on 127.0.0.x with a certificate of the test CA,
// answering /.well-known/mta-sts.txt per Host header from what the test sets.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface PolicyAnswer {
  status?: number;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface PolicyServer {
  port: number;
  /** policy host (mta-sts.<domain>) → answer; absent: 404 */
  answers: Map<string, PolicyAnswer>;
  /** hosts asked, in order */
  requests: string[];
  stop(): Promise<void>;
}

export async function startPolicyServer(host: string, cert: { key: string; cert: string }): Promise<PolicyServer> {
  const answers = new Map<string, PolicyAnswer>();
  const requests: string[] = [];
  const server: Server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    const name = String(req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    requests.push(name);
    const a = req.url === '/.well-known/mta-sts.txt' ? answers.get(name) : undefined;
    if (!a) return res.writeHead(404).end('not found');
    res.writeHead(a.status ?? 200, { 'content-type': a.contentType ?? 'text/plain', ...a.headers }).end(a.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    answers,
    requests,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

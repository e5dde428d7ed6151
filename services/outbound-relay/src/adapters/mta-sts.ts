// Fetching an MTA-STS policy (RFC 8461 §3.3): HTTPS GET of
// https://mta-sts.<domain>/.well-known/mta-sts.txt with the Web PKI (plus RELAY_TLS_CA_FILE),
// the name resolved through dns-cache like every other look-up, no redirects (§3.3: "MUST NOT
// follow"), text/plain only, a size cap and one deadline for the whole exchange.
import { request } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { DnsClient } from '@hopmail/dns-client';
import { STS_MAX_BODY_BYTES } from '../policy/mta-sts.ts';

export interface StsFetchOptions {
  dns: DnsClient;
  /** Trusted CAs; undefined: Node's roots. */
  ca: string[] | undefined;
  /** 443 outside tests. */
  port: number;
  timeoutMs: number;
}

export type StsFetch = { ok: true; body: string } | { ok: false; reason: string };

function lookupVia(dns: DnsClient): LookupFunction {
  return (hostname, options, callback) => {
    void dns.addresses(hostname).then((r) => {
      if (!r.ok) return callback(Object.assign(new Error(`${hostname}: ${r.code}`), { code: r.code }) as NodeJS.ErrnoException, '', 0);
      const all = r.value.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof all) => void)(null, all);
      callback(null, all[0]!.address, all[0]!.family);
    });
  };
}

export function fetchStsPolicy(domain: string, o: StsFetchOptions): Promise<StsFetch> {
  const host = `mta-sts.${domain}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: StsFetch) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request(
      {
        host,
        port: o.port,
        path: '/.well-known/mta-sts.txt',
        method: 'GET',
        servername: host,
        ...(o.ca ? { ca: o.ca } : {}),
        rejectUnauthorized: true,
        lookup: lookupVia(o.dns),
        headers: { accept: 'text/plain', 'user-agent': 'hopmail-mta-sts' },
        agent: false,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) return done({ ok: false, reason: `HTTP ${status} redirect refused (RFC 8461 §3.3)` });
        if (status !== 200) return done({ ok: false, reason: `HTTP ${status}` });
        const type = String(res.headers['content-type'] ?? '');
        if (!/^text\/plain\b/i.test(type)) return done({ ok: false, reason: `media type "${type}" is not text/plain` });
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > STS_MAX_BODY_BYTES) return done({ ok: false, reason: `policy larger than ${STS_MAX_BODY_BYTES} bytes` });
          chunks.push(c);
        });
        res.on('end', () => done({ ok: true, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => done({ ok: false, reason: err.message }));
      },
    );
    const timer = setTimeout(() => done({ ok: false, reason: `no policy within ${o.timeoutMs} ms` }), o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, reason: `${err.code ?? 'ERROR'}: ${err.message}` }));
    req.end();
  });
}

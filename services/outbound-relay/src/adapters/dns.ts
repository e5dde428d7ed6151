// MX and address lookups through the configured name servers (dns-cache by default).
import { Resolver } from 'node:dns/promises';
import type { MxRecord } from '../policy/mx-plan.ts';

export type DnsResult<T> = { ok: true; value: T } | { ok: false; kind: 'nxdomain' | 'nodata' | 'temporary'; code: string };

export interface Dns {
  mx(domain: string): Promise<DnsResult<MxRecord[]>>;
  /** A and AAAA of a host: addresses, IPv4 first; nodata when the host has neither. */
  addresses(host: string): Promise<DnsResult<string[]>>;
}

function mapError(err: unknown): { kind: 'nxdomain' | 'nodata' | 'temporary'; code: string } {
  const code = (err as { code?: string }).code ?? 'EUNKNOWN';
  if (code === 'ENOTFOUND' || code === 'NXDOMAIN') return { kind: 'nxdomain', code };
  if (code === 'ENODATA') return { kind: 'nodata', code };
  // SERVFAIL, ETIMEOUT, ECONNREFUSED, EREFUSED, EBADRESP …: nothing is known, try later.
  return { kind: 'temporary', code };
}

export function createDns(opts: { servers: readonly string[]; timeoutMs: number; tries: number }): Dns {
  const resolver = new Resolver({ timeout: opts.timeoutMs, tries: opts.tries });
  resolver.setServers([...opts.servers]);
  async function q<T>(fn: () => Promise<T>): Promise<DnsResult<T>> {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      return { ok: false, ...mapError(err) };
    }
  }
  return {
    mx: (domain) => q(() => resolver.resolveMx(domain)),
    async addresses(host) {
      const [a, aaaa] = await Promise.all([q(() => resolver.resolve4(host)), q(() => resolver.resolve6(host))]);
      const out = [...(a.ok ? a.value : []), ...(aaaa.ok ? aaaa.value : [])];
      if (out.length) return { ok: true, value: out };
      // Prefer the most informative failure: temporary beats nxdomain beats nodata.
      const fails = [a, aaaa].filter((r): r is Extract<DnsResult<string[]>, { ok: false }> => !r.ok);
      const temp = fails.find((f) => f.kind === 'temporary');
      if (temp) return temp;
      const nx = fails.find((f) => f.kind === 'nxdomain');
      if (nx) return nx;
      return { ok: false, kind: 'nodata', code: 'ENODATA' };
    },
  };
}

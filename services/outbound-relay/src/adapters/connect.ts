// Happy eyeballs for SMTP (RFC 8305 §5): TCP connections to an MX host's addresses in the
// order given, each started one connection-attempt delay after the one before (at once when
// the one before failed); the first to connect wins and the rest are closed. Each family
// leaves from its own source address when one is configured (RELAY_SOURCE_ADDRESS[6]).
import { connect, isIP, type Socket } from 'node:net';

export interface SourceAddresses {
  /** '' : the system's choice. */
  v4: string;
  v6: string;
}

export interface RaceOptions {
  port: number;
  /** RFC 8305 §8: 250 ms recommended, never below 10 ms. */
  delayMs: number;
  /** For the whole race. */
  timeoutMs: number;
  source: SourceAddresses;
}

export type RaceResult =
  | { ok: true; socket: Socket; ip: string; failures: string[] }
  /** `started`: how many of the addresses were tried (all, unless the deadline came first). */
  | { ok: false; failures: string[]; started: number };

export function connectFirst(ips: readonly string[], o: RaceOptions): Promise<RaceResult> {
  return new Promise((resolve) => {
    const failures: string[] = [];
    const pending = new Map<Socket, string>();
    let next = 0;
    let done = false;
    let stagger: NodeJS.Timeout | undefined;
    const end = (r: RaceResult) => {
      done = true;
      clearTimeout(stagger);
      clearTimeout(deadline);
      for (const s of pending.keys()) s.destroy();
      pending.clear();
      resolve(r);
    };
    const deadline = setTimeout(() => {
      for (const ip of pending.values()) failures.push(`${ip}: ETIMEDOUT`);
      end({ ok: false, failures, started: next });
    }, o.timeoutMs);
    const start = (): void => {
      clearTimeout(stagger);
      if (done) return;
      if (next >= ips.length) {
        if (pending.size === 0) end({ ok: false, failures, started: next });
        return;
      }
      const ip = ips[next++]!;
      const local = isIP(ip) === 6 ? o.source.v6 : o.source.v4;
      const s = connect({ host: ip, port: o.port, ...(local ? { localAddress: local } : {}) });
      pending.set(s, ip);
      // Stays attached: an error between the win and SMTPConnection's own handlers must not throw.
      s.on('error', (err: NodeJS.ErrnoException) => {
        if (done || !pending.delete(s)) return;
        failures.push(`${ip}: ${err.code ?? err.message}`);
        start();
      });
      s.once('connect', () => {
        if (done) return;
        pending.delete(s);
        end({ ok: true, socket: s, ip, failures });
      });
      stagger = setTimeout(start, o.delayMs);
    };
    start();
  });
}

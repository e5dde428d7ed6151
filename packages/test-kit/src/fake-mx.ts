// Fake remote MX servers (smtp-server) sharing one port on several 127.0.0.x addresses,
// because the relay connects to every MX on the one RELAY_PORT. Used by the relay's tests,
// the tests that start several services, and the relay benchmark.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { freePort } from './infra.ts';

export interface MxTransaction {
  ip: string;
  /** The client's address as this server saw it (the relay's source address). */
  remoteAddress?: string;
  from: string;
  to: string[];
  data: Buffer;
  secure: boolean;
  /** MAIL FROM parameters (BODY=8BITMIME, SMTPUTF8, SIZE). */
  params: Record<string, unknown>;
  /** RCPT TO parameters per recipient (NOTIFY, ORCPT as sent, xtext decoded). */
  rcptParams: Record<string, unknown>[];
}

export interface MxBehaviour {
  /** reply code for the greeting instead of 220 (e.g. 421) */
  greeting?: number;
  /** address (lower case) → reply code for RCPT TO */
  rcpt?: Record<string, number>;
  /** first RCPT per recipient answered 451 (greylisting) */
  greylist?: boolean;
  /** reply to the final '.' (default 250) */
  dataCode?: number;
  /** wait this long before answering the final '.' */
  dataDelayMs?: number;
}

export interface FakeMx {
  port: number;
  transactions: MxTransaction[];
  /** connections accepted per ip */
  connections: Record<string, number>;
  /** connections open right now, and the most ever open at once (all ips) */
  open: number;
  maxOpen: number;
  /** called when a transaction's data has arrived, before the reply */
  onData?: (t: MxTransaction) => void;
  behave(ip: string, b: MxBehaviour): void;
  stop(): Promise<void>;
}

export interface FakeMxOptions {
  /**
   * Per address: the certificate offered on STARTTLS (tests of MTA-STS, DANE, verify), or
   * 'none' to offer no STARTTLS. Default: smtp-server's built-in self-signed certificate.
   */
  tls?: Record<string, { key: string; cert: string } | 'none'>;
  /** Addresses that advertise DSN (RFC 3461); the others do not. */
  dsn?: readonly string[];
}

export async function startFakeMx(ips: readonly string[], options: FakeMxOptions = {}): Promise<FakeMx> {
  const behaviour = new Map<string, MxBehaviour>();
  const greySeen = new Set<string>();
  const fake: FakeMx = {
    port: 0,
    transactions: [],
    connections: {},
    open: 0,
    maxOpen: 0,
    behave: (ip, b) => behaviour.set(ip, b),
    stop: async () => {},
  };
  const make = (ip: string, opts: Partial<SMTPServerOptions>) =>
    new SMTPServer({
      logger: false,
      authOptional: true,
      size: 10 * 1024 * 1024,
      banner: `fake mx ${ip}`,
      // RFC 8689: offered on TLS sessions (the relay's REQUIRETLS tests).
      hideREQUIRETLS: false,
      hideDSN: !options.dsn?.includes(ip),
      ...opts,
      onConnect(_session, cb) {
        fake.connections[ip] = (fake.connections[ip] ?? 0) + 1;
        fake.open++;
        fake.maxOpen = Math.max(fake.maxOpen, fake.open);
        const g = behaviour.get(ip)?.greeting;
        if (g) return cb(Object.assign(new Error(`${g === 421 ? '4.3.2' : '5.3.2'} go away`), { responseCode: g }));
        cb();
      },
      onClose() {
        fake.open--;
      },
      onRcptTo(addr, session, cb) {
        const b = behaviour.get(ip) ?? {};
        const a = addr.address.toLowerCase();
        const code = b.rcpt?.[a];
        if (code && code !== 250) return cb(Object.assign(new Error(`${code >= 500 ? '5.1.1' : '4.2.1'} rcpt ${a} says ${code}`), { responseCode: code }));
        if (b.greylist && !greySeen.has(a)) {
          greySeen.add(a);
          return cb(Object.assign(new Error('4.7.1 Greylisted, try again later'), { responseCode: 451 }));
        }
        cb();
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const b = behaviour.get(ip) ?? {};
          const t: MxTransaction = {
            ip,
            remoteAddress: session.remoteAddress,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks),
            secure: session.secure,
            params: (session.envelope.mailFrom ? session.envelope.mailFrom.args : {}) as Record<string, unknown>,
            rcptParams: session.envelope.rcptTo.map((r) => (r.args || {}) as Record<string, unknown>),
          };
          fake.transactions.push(t);
          fake.onData?.(t);
          const reply = () => {
            const code = b.dataCode ?? 250;
            if (code === 250) return cb(null, '2.0.0 queued');
            cb(Object.assign(new Error(`${code >= 500 ? '5.7.1' : '4.3.0'} data says ${code}`), { responseCode: code }));
          };
          if (b.dataDelayMs) setTimeout(reply, b.dataDelayMs);
          else reply();
        });
      },
    });
  for (let tries = 0; ; tries++) {
    const port = await freePort(ips[0]);
    const servers: SMTPServer[] = [];
    try {
      for (const ip of ips) {
        const t = options.tls?.[ip];
        const s = make(ip, t === 'none' ? { hideSTARTTLS: true, disabledCommands: ['STARTTLS'] } : t ? { key: t.key, cert: t.cert } : {});
        servers.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(port, ip, () => resolve());
        });
        s.on('error', () => {});
      }
    } catch (err) {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      if (tries > 5) throw err;
      continue;
    }
    fake.port = port;
    fake.stop = () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => {});
    return fake;
  }
}

/** A server offering neither 8BITMIME, SMTPUTF8, CHUNKING nor BINARYMIME, with SIZE 50000, on its own address and the same port. */
export async function startPlainMx(ip: string, port: number, transactions: MxTransaction[]): Promise<{ stop(): Promise<void> }> {
  const s = new SMTPServer({
    logger: false,
    authOptional: true,
    size: 50_000,
    hide8BITMIME: true,
    hideSMTPUTF8: true,
    hideCHUNKING: true,
    hideBINARYMIME: true,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        transactions.push({ ip, from: '', to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks), secure: session.secure, params: {}, rcptParams: [] });
        cb(null, 'ok');
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, ip, () => resolve());
  });
  return { stop: () => new Promise<void>((r) => s.close(() => r())) };
}

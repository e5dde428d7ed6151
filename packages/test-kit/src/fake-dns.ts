// An authoritative test DNS server on 127.0.0.x, UDP and TCP on one port, serving the
// records a test gives it. Behaviours simulate broken upstreams: SERVFAIL, slow answers,
// dropped queries, and UDP answers truncated so that the client must retry over TCP.
//
// Answers: records of the asked type; else a CNAME at the name (followed within the
// records); else, if the name owns other records or has names below it (an empty
// non-terminal), NODATA; else NXDOMAIN. Negative answers carry the closest enclosing
// zone's SOA in the authority section with TTL = min(SOA ttl, SOA minimum) (RFC 2308 §3).
// UDP answers larger than the client's size (512, or its EDNS size) come back with TC set.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { listenUdpAndTcp } from '@hopmail/service-kit';
import {
  CLASS,
  RCODE,
  TYPE,
  TcpFrameReader,
  canonicalName,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  frameTcp,
  typeName,
  type DnsMessage,
  type DnsRecord,
  type SoaRecord,
} from '@hopmail/dns-wire';

/** SOA rdata, as the codec's SoaRecord carries it. */
export type FakeDnsSoaData = Omit<SoaRecord, 'type' | 'name' | 'class' | 'ttl'>;

export interface FakeDnsRecord {
  name: string;
  type: 'A' | 'AAAA' | 'MX' | 'CNAME' | 'TXT' | 'SOA' | 'NS' | 'TLSA';
  /** seconds; default 300 */
  ttl?: number;
  /** A/AAAA: address; CNAME/NS: host name; TXT: text (split into 255-byte strings); MX; SOA */
  data: string | { preference: number; exchange: string } | FakeDnsSoaData | FakeTlsa;
}

/** TLSA rdata (RFC 6698 §2.1); `data` in hex. */
export interface FakeTlsa {
  usage: number;
  selector: number;
  matchingType: number;
  data: string;
}

export interface FakeDnsBehaviour {
  /** names answered SERVFAIL */
  servfail?: string[];
  /** name → delay in ms before the answer */
  slow?: Record<string, number>;
  /** names never answered */
  drop?: string[];
  /** names whose UDP answer has TC set and no records; the full answer comes over TCP */
  truncateUdp?: string[];
  /** names answered with AD set, as a validating resolver would for DNSSEC-secure data */
  authenticated?: string[];
}

export interface FakeDnsQuery {
  /** lower-cased, no trailing dot */
  name: string;
  /** 'A', 'MX', … or 'TYPE65' */
  type: string;
  transport: 'udp' | 'tcp';
}

export interface FakeDns {
  host: string;
  port: number;
  /** every well-formed query received, in order */
  queries: FakeDnsQuery[];
  setRecords(records: FakeDnsRecord[]): void;
  setBehaviour(b: FakeDnsBehaviour): void;
  stop(): Promise<void>;
}

export interface FakeDnsOptions {
  /** default 127.0.0.1; any 127.0.0.x works on Linux */
  host?: string;
  /** 0 (default) picks one; UDP and TCP share the port */
  port?: number;
  records: FakeDnsRecord[];
  behaviour?: FakeDnsBehaviour;
  /** an SOA used for negative answers of names under `name` when the records carry none */
  zoneSoa?: { name: string; ttl?: number; data: FakeDnsSoaData };
}

const DEFAULT_TTL = 300;

function toWire(r: FakeDnsRecord): DnsRecord {
  const base = { name: canonicalName(r.name), class: CLASS.IN, ttl: r.ttl ?? DEFAULT_TTL };
  const d = r.data;
  const text = (): string => {
    if (typeof d !== 'string') throw new Error(`fake-dns: ${r.type} record for ${r.name} needs a string`);
    return d;
  };
  switch (r.type) {
    case 'A':
      return { ...base, type: 'A', address: text() };
    case 'AAAA':
      return { ...base, type: 'AAAA', address: text() };
    case 'CNAME':
      return { ...base, type: 'CNAME', target: text() };
    case 'NS':
      return { ...base, type: 'NS', host: text() };
    case 'TXT': {
      const bytes = Buffer.from(text(), 'utf8');
      const strings: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 255) strings.push(bytes.subarray(i, i + 255));
      return { ...base, type: 'TXT', strings: strings.length ? strings : [Buffer.alloc(0)] };
    }
    case 'MX': {
      if (typeof d !== 'object' || !('exchange' in d)) throw new Error(`fake-dns: MX record for ${r.name} needs { preference, exchange }`);
      return { ...base, type: 'MX', preference: d.preference, exchange: d.exchange };
    }
    case 'TLSA': {
      if (typeof d !== 'object' || !('usage' in d)) throw new Error(`fake-dns: TLSA record for ${r.name} needs { usage, selector, matchingType, data }`);
      return { ...base, type: 'UNKNOWN', typeCode: 52, rdata: Buffer.concat([Buffer.from([d.usage, d.selector, d.matchingType]), Buffer.from(d.data, 'hex')]) };
    }
    case 'SOA': {
      if (typeof d !== 'object' || !('mname' in d)) throw new Error(`fake-dns: SOA record for ${r.name} needs { mname, rname, serial, … }`);
      return { ...base, type: 'SOA', ...d };
    }
    default: {
      const never: never = r.type;
      throw new Error(`fake-dns: unsupported type ${String(never)}`);
    }
  }
}

class Zone {
  private byName = new Map<string, DnsRecord[]>();
  private nonTerminals = new Set<string>();

  constructor(records: DnsRecord[]) {
    for (const r of records) {
      const list = this.byName.get(r.name) ?? [];
      list.push(r);
      this.byName.set(r.name, list);
      let n = r.name;
      for (let i = n.indexOf('.'); i >= 0; i = n.indexOf('.')) {
        n = n.slice(i + 1);
        this.nonTerminals.add(n);
      }
    }
  }

  private soaFor(name: string): SoaRecord | undefined {
    let n = name;
    for (;;) {
      const soa = this.byName.get(n)?.find((r): r is SoaRecord => r.type === 'SOA');
      if (soa) return soa;
      const i = n.indexOf('.');
      if (i < 0) return undefined;
      n = n.slice(i + 1);
    }
  }

  private negative(name: string): DnsRecord[] {
    const soa = this.soaFor(name);
    return soa ? [{ ...soa, ttl: Math.min(soa.ttl, soa.minimum) }] : [];
  }

  answer(qname: string, qtype: number): { rcode: number; answers: DnsRecord[]; authorities: DnsRecord[] } {
    const answers: DnsRecord[] = [];
    let name = qname;
    for (let hop = 0; hop < 8; hop++) {
      const here = this.byName.get(name) ?? [];
      const matches = here.filter((r) => qtype === TYPE.ANY || (r.type === 'UNKNOWN' ? r.typeCode : TYPE[r.type]) === qtype);
      if (matches.length) return { rcode: RCODE.NOERROR, answers: [...answers, ...matches], authorities: [] };
      const cname = here.find((r) => r.type === 'CNAME');
      if (cname && cname.type === 'CNAME' && qtype !== TYPE.CNAME) {
        answers.push(cname);
        name = canonicalName(cname.target);
        continue;
      }
      if (here.length || this.nonTerminals.has(name)) return { rcode: RCODE.NOERROR, answers, authorities: this.negative(name) };
      if (answers.length && this.soaFor(name) === undefined) return { rcode: RCODE.NOERROR, answers, authorities: [] };
      return { rcode: RCODE.NXDOMAIN, answers, authorities: this.negative(name) };
    }
    return { rcode: RCODE.NOERROR, answers, authorities: [] };
  }
}

export async function startFakeDns(options: FakeDnsOptions): Promise<FakeDns> {
  const host = options.host ?? '127.0.0.1';
  let zone: Zone;
  let behaviour: Required<FakeDnsBehaviour>;
  const extraSoa: DnsRecord[] = options.zoneSoa ? [toWire({ name: options.zoneSoa.name, type: 'SOA', ttl: options.zoneSoa.ttl, data: options.zoneSoa.data } as FakeDnsRecord)] : [];
  const setRecords = (records: FakeDnsRecord[]) => {
    const wire = records.map(toWire);
    const haveSoa = new Set(wire.filter((r) => r.type === 'SOA').map((r) => r.name));
    zone = new Zone([...wire, ...extraSoa.filter((s) => !haveSoa.has(s.name))]);
  };
  const setBehaviour = (b: FakeDnsBehaviour) => {
    const names = (xs?: string[]) => (xs ?? []).map(canonicalName);
    behaviour = {
      servfail: names(b.servfail),
      drop: names(b.drop),
      truncateUdp: names(b.truncateUdp),
      authenticated: names(b.authenticated),
      slow: Object.fromEntries(Object.entries(b.slow ?? {}).map(([k, v]) => [canonicalName(k), v])),
    };
  };
  setRecords(options.records);
  setBehaviour(options.behaviour ?? {});

  const queries: FakeDnsQuery[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let stopped = false;

  /** The reply to one query, or undefined to stay silent. */
  const handle = (buf: Buffer, transport: 'udp' | 'tcp'): { reply?: Buffer; delayMs: number } => {
    let query: DnsMessage;
    try {
      query = decodeMessage(buf);
    } catch {
      try {
        const h = decodeHeader(buf);
        if (h.qr) return { delayMs: 0 };
        return { reply: encodeMessage({ header: { ...h, qr: true, aa: false, tc: false, ra: false, rcode: RCODE.FORMERR }, questions: [], answers: [], authorities: [], additionals: [] }), delayMs: 0 };
      } catch {
        return { delayMs: 0 };
      }
    }
    if (query.header.qr) return { delayMs: 0 };
    const reply: DnsMessage = {
      header: { ...query.header, qr: true, aa: true, tc: false, ra: false, ad: false, rcode: RCODE.NOERROR },
      questions: query.questions,
      answers: [],
      authorities: [],
      additionals: [],
    };
    if (query.edns) reply.edns = { udpSize: 1232, extendedRcode: 0, version: 0, dnssecOk: false, flags: 0, options: Buffer.alloc(0) };
    const q = query.questions[0];
    if (query.questions.length !== 1 || !q || query.header.opcode !== 0) {
      reply.header.rcode = query.header.opcode !== 0 ? RCODE.NOTIMP : RCODE.FORMERR;
      return { reply: encodeMessage(reply), delayMs: 0 };
    }
    const name = canonicalName(q.name);
    queries.push({ name, type: typeName(q.type), transport });
    if (behaviour.drop.includes(name)) return { delayMs: 0 };
    const delayMs = behaviour.slow[name] ?? 0;
    if (behaviour.servfail.includes(name)) {
      reply.header.rcode = RCODE.SERVFAIL;
      reply.header.aa = false;
      return { reply: encodeMessage(reply), delayMs };
    }
    if (transport === 'udp' && behaviour.truncateUdp.includes(name)) {
      reply.header.tc = true;
      return { reply: encodeMessage(reply), delayMs };
    }
    const a = zone.answer(name, q.type);
    reply.header.rcode = a.rcode;
    reply.header.ad = behaviour.authenticated.includes(name);
    // Owner names echo the question's spelling for the first hop (case is preserved on the wire).
    reply.answers = a.answers.map((r) => (r.name === name ? { ...r, name: q.name } : r));
    reply.authorities = a.authorities;
    let bytes = encodeMessage(reply);
    const limit = Math.max(512, query.edns?.udpSize ?? 512);
    if (transport === 'udp' && bytes.length > limit) {
      bytes = encodeMessage({ ...reply, header: { ...reply.header, tc: true }, answers: [], authorities: [], additionals: [] });
    }
    return { reply: bytes, delayMs };
  };

  const later = (ms: number, fn: () => void) => {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };

  const family = host.includes(':') ? 'udp6' : 'udp4';
  const make = (): { udp: UdpSocket; tcp: Server } => {
    const udp = createSocket({ type: family });
    udp.on('message', (msg, rinfo) => {
      const { reply, delayMs } = handle(msg, 'udp');
      if (reply) later(delayMs, () => udp.send(reply, rinfo.port, rinfo.address));
    });
    const tcp = createServer((sock) => {
      sockets.add(sock);
      const frames = new TcpFrameReader();
      sock.on('data', (chunk) => {
        for (const msg of frames.push(chunk)) {
          const { reply, delayMs } = handle(msg, 'tcp');
          if (reply) later(delayMs, () => void (!sock.destroyed && sock.write(frameTcp(reply))));
        }
      });
      sock.on('error', () => {});
      sock.on('close', () => sockets.delete(sock));
    });
    return { udp, tcp };
  };
  const { udp, tcp, port } = await listenUdpAndTcp(make, host, options.port ?? 0);
  udp.on('error', () => {});

  return {
    host,
    port,
    queries,
    setRecords,
    setBehaviour,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

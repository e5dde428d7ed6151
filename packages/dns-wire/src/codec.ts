// DNS message codec (RFC 1035 §4). Pure: bytes in, objects out, and back.
import { bytesToIpv4, bytesToIpv6, ipv4ToBytes, ipv6ToBytes } from './address.ts';
import { FormatError } from './errors.ts';
import { parseName, readName } from './name.ts';
import { TYPE, recordTypeCode, type DnsHeader, type DnsMessage, type DnsQuestion, type DnsRecord, type Edns } from './types.ts';

const HEADER_SIZE = 12;
/** Largest message the 16-bit TCP length prefix can carry (RFC 1035 §4.2.2). */
export const MAX_MESSAGE_SIZE = 65535;

export interface HeaderWithCounts extends DnsHeader {
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/** The fixed 12-byte header alone: enough to answer FORMERR to a query whose body is broken. */
export function decodeHeader(buf: Buffer): HeaderWithCounts {
  if (buf.length < HEADER_SIZE) throw new FormatError('dns.short-header', `message of ${buf.length} bytes is shorter than the 12-byte header`);
  const flags = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
    qdcount: buf.readUInt16BE(4),
    ancount: buf.readUInt16BE(6),
    nscount: buf.readUInt16BE(8),
    arcount: buf.readUInt16BE(10),
  };
}

function need(buf: Buffer, pos: number, n: number, what: string): void {
  if (pos + n > buf.length) throw new FormatError('dns.truncated', `${what} runs past the end of the message`, pos);
}

function readRecord(buf: Buffer, start: number): { record: DnsRecord | { opt: Edns }; next: number } {
  const { name, next: afterName } = readName(buf, start);
  need(buf, afterName, 10, 'record header');
  const type = buf.readUInt16BE(afterName);
  const klass = buf.readUInt16BE(afterName + 2);
  const rawTtl = buf.readUInt32BE(afterName + 4);
  const rdlength = buf.readUInt16BE(afterName + 8);
  const rd = afterName + 10;
  const end = rd + rdlength;
  need(buf, rd, rdlength, 'rdata');
  // RFC 2181 §8: a TTL with the top bit set is treated as zero.
  const ttl = rawTtl > 0x7fffffff ? 0 : rawTtl;
  const base = { name, class: klass, ttl };
  const fixed = (n: number) => {
    if (rdlength !== n) throw new FormatError('dns.bad-rdata', `type ${type} rdata must be ${n} bytes, got ${rdlength}`, rd);
  };
  const nameIn = (at: number): { name: string; next: number } => {
    const r = readName(buf, at);
    if (r.next > end) throw new FormatError('dns.bad-rdata', 'name runs past its rdata', at);
    return r;
  };
  const exact = (pos: number) => {
    if (pos !== end) throw new FormatError('dns.bad-rdata', `type ${type} rdata has ${end - pos} stray bytes`, pos);
  };
  let record: DnsRecord | { opt: Edns };
  switch (type) {
    case TYPE.A:
      fixed(4);
      record = { ...base, type: 'A', address: bytesToIpv4(buf, rd) };
      break;
    case TYPE.AAAA:
      fixed(16);
      record = { ...base, type: 'AAAA', address: bytesToIpv6(buf, rd) };
      break;
    case TYPE.MX: {
      if (rdlength < 3) throw new FormatError('dns.bad-rdata', 'MX rdata too short', rd);
      const r = nameIn(rd + 2);
      exact(r.next);
      record = { ...base, type: 'MX', preference: buf.readUInt16BE(rd), exchange: r.name };
      break;
    }
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR: {
      const r = nameIn(rd);
      exact(r.next);
      record = type === TYPE.NS ? { ...base, type: 'NS', host: r.name } : { ...base, type: type === TYPE.CNAME ? 'CNAME' : 'PTR', target: r.name };
      break;
    }
    case TYPE.TXT: {
      const strings: Buffer[] = [];
      let p = rd;
      while (p < end) {
        const len = buf[p]!;
        if (p + 1 + len > end) throw new FormatError('dns.bad-rdata', 'TXT string runs past its rdata', p);
        strings.push(Buffer.from(buf.subarray(p + 1, p + 1 + len)));
        p += 1 + len;
      }
      record = { ...base, type: 'TXT', strings };
      break;
    }
    case TYPE.SOA: {
      const m = nameIn(rd);
      const r = nameIn(m.next);
      if (r.next + 20 > end) throw new FormatError('dns.bad-rdata', 'SOA rdata too short', r.next);
      exact(r.next + 20);
      const p = r.next;
      record = {
        ...base,
        type: 'SOA',
        mname: m.name,
        rname: r.name,
        serial: buf.readUInt32BE(p),
        refresh: buf.readUInt32BE(p + 4),
        retry: buf.readUInt32BE(p + 8),
        expire: buf.readUInt32BE(p + 12),
        minimum: buf.readUInt32BE(p + 16),
      };
      break;
    }
    case TYPE.OPT:
      record = {
        opt: {
          udpSize: klass,
          extendedRcode: rawTtl >>> 24,
          version: (rawTtl >>> 16) & 0xff,
          dnssecOk: (rawTtl & 0x8000) !== 0,
          flags: rawTtl & 0x7fff,
          options: Buffer.from(buf.subarray(rd, end)),
        },
      };
      break;
    default:
      record = { ...base, type: 'UNKNOWN', typeCode: type, rdata: Buffer.from(buf.subarray(rd, end)) };
  }
  return { record, next: end };
}

/**
 * Decodes a whole message. Throws FormatError on anything malformed: short header, counts
 * that run past the end, labels over 63 octets, names over 255, compression pointers that
 * do not point backwards (loops), rdata whose length disagrees with its contents, a second
 * OPT record (RFC 6891 §6.1.1). Bytes after the last counted record are ignored.
 */
export function decodeMessage(buf: Buffer): DnsMessage {
  const h = decodeHeader(buf);
  const { qdcount, ancount, nscount, arcount, ...header } = h;
  let pos = HEADER_SIZE;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qdcount; i++) {
    const { name, next } = readName(buf, pos);
    need(buf, next, 4, 'question');
    questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
    pos = next + 4;
  }
  const section = (count: number, where: string, allowOpt: boolean): { records: DnsRecord[]; edns?: Edns } => {
    const records: DnsRecord[] = [];
    let edns: Edns | undefined;
    for (let i = 0; i < count; i++) {
      const { record, next } = readRecord(buf, pos);
      pos = next;
      if ('opt' in record) {
        if (!allowOpt) throw new FormatError('dns.bad-rdata', `OPT record in the ${where} section`);
        if (edns) throw new FormatError('dns.bad-rdata', 'more than one OPT record');
        edns = record.opt;
      } else {
        records.push(record);
      }
    }
    return edns ? { records, edns } : { records };
  };
  const answers = section(ancount, 'answer', false).records;
  const authorities = section(nscount, 'authority', false).records;
  const add = section(arcount, 'additional', true);
  const msg: DnsMessage = { header, questions, answers, authorities, additionals: add.records };
  if (add.edns) msg.edns = add.edns;
  return msg;
}

/** A growable output buffer with name compression (RFC 1035 §4.1.4). */
class Writer {
  buf = Buffer.allocUnsafe(512);
  len = 0;
  private names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
  name(text: string, compress: boolean): void {
    const { labels, suffixKeys } = parseName(text);
    for (let i = 0; i < labels.length; i++) {
      const key = suffixKeys[i]!;
      if (compress) {
        const at = this.names.get(key);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
      }
      // Only offsets that fit the 14-bit pointer can be targets.
      if (this.len < 0x4000 && !this.names.has(key)) this.names.set(key, this.len);
      const l = labels[i]!;
      this.u8(l.length);
      this.bytes(l);
    }
    this.u8(0);
  }
}

function clampTtl(ttl: number): number {
  if (!Number.isFinite(ttl) || ttl < 0) return 0;
  return Math.min(Math.floor(ttl), 0x7fffffff);
}

function writeRecord(w: Writer, r: DnsRecord): void {
  w.name(r.name, true);
  w.u16(recordTypeCode(r));
  w.u16(r.class);
  w.u32(clampTtl(r.ttl));
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  switch (r.type) {
    case 'A':
      w.bytes(ipv4ToBytes(r.address));
      break;
    case 'AAAA':
      w.bytes(ipv6ToBytes(r.address));
      break;
    case 'MX':
      w.u16(r.preference);
      w.name(r.exchange, true);
      break;
    case 'CNAME':
    case 'PTR':
      w.name(r.target, true);
      break;
    case 'NS':
      w.name(r.host, true);
      break;
    case 'TXT':
      for (const s of r.strings) {
        if (s.length > 255) throw new FormatError('dns.bad-rdata', 'TXT character-string longer than 255 bytes');
        w.u8(s.length);
        w.bytes(s);
      }
      break;
    case 'SOA':
      w.name(r.mname, true);
      w.name(r.rname, true);
      w.u32(r.serial);
      w.u32(r.refresh);
      w.u32(r.retry);
      w.u32(r.expire);
      w.u32(r.minimum);
      break;
    case 'UNKNOWN':
      w.bytes(r.rdata);
      break;
    default: {
      const never: never = r;
      throw new Error(`unhandled record ${JSON.stringify(never)}`);
    }
  }
  const rdlength = w.len - start;
  if (rdlength > 0xffff) throw new FormatError('dns.too-large', 'rdata longer than 65535 bytes');
  w.buf.writeUInt16BE(rdlength, lenAt);
}

/** Encodes a message with name compression. The OPT record (from `edns`) goes last. */
export function encodeMessage(msg: DnsMessage): Buffer {
  const w = new Writer();
  const h = msg.header;
  w.u16(h.id);
  w.u16(
    (h.qr ? 0x8000 : 0) |
      ((h.opcode & 0xf) << 11) |
      (h.aa ? 0x0400 : 0) |
      (h.tc ? 0x0200 : 0) |
      (h.rd ? 0x0100 : 0) |
      (h.ra ? 0x0080 : 0) |
      (h.ad ? 0x0020 : 0) |
      (h.cd ? 0x0010 : 0) |
      (h.rcode & 0xf),
  );
  w.u16(msg.questions.length);
  w.u16(msg.answers.length);
  w.u16(msg.authorities.length);
  w.u16(msg.additionals.length + (msg.edns ? 1 : 0));
  for (const q of msg.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const r of msg.answers) writeRecord(w, r);
  for (const r of msg.authorities) writeRecord(w, r);
  for (const r of msg.additionals) writeRecord(w, r);
  if (msg.edns) {
    const e = msg.edns;
    w.u8(0); // root owner
    w.u16(TYPE.OPT);
    w.u16(e.udpSize);
    w.u32(((e.extendedRcode & 0xff) << 24) | ((e.version & 0xff) << 16) | (e.dnssecOk ? 0x8000 : 0) | (e.flags & 0x7fff));
    w.u16(e.options.length);
    w.bytes(e.options);
  }
  if (w.len > MAX_MESSAGE_SIZE) throw new FormatError('dns.too-large', `message of ${w.len} bytes exceeds 65535`);
  return Buffer.from(w.buf.subarray(0, w.len));
}

/** A standard query with RD set (and an OPT record advertising `udpSize` when given). */
export function encodeQuery(q: { id: number; name: string; type: number; class?: number; rd?: boolean; ad?: boolean; udpSize?: number; dnssecOk?: boolean }): Buffer {
  const msg: DnsMessage = {
    // AD in a query asks for AD in the answer (RFC 6840 §5.7).
    header: { id: q.id, qr: false, opcode: 0, aa: false, tc: false, rd: q.rd ?? true, ra: false, ad: q.ad ?? false, cd: false, rcode: 0 },
    questions: [{ name: q.name, type: q.type, class: q.class ?? 1 }],
    answers: [],
    authorities: [],
    additionals: [],
  };
  if (q.udpSize) msg.edns = { udpSize: q.udpSize, extendedRcode: 0, version: 0, dnssecOk: q.dnssecOk ?? false, flags: 0, options: Buffer.alloc(0) };
  return encodeMessage(msg);
}

/** Length-prefixed framing for DNS over TCP (RFC 1035 §4.2.2, RFC 7766). */
export function frameTcp(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/** Splits a TCP byte stream into messages; keeps the partial tail for the next chunk. */
export class TcpFrameReader {
  private pending: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length >= 2) {
      const len = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + len) break;
      out.push(this.pending.subarray(2, 2 + len));
      this.pending = this.pending.subarray(2 + len);
    }
    return out;
  }
  get buffered(): number {
    return this.pending.length;
  }
}

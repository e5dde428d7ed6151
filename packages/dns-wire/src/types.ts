// DNS message model (RFC 1035 §4, RFC 3596 AAAA, RFC 2308 SOA-in-authority, RFC 6891 OPT).
// Names are presentation strings without the trailing dot ("mx1.example.org"); the root
// is "."; label bytes that are '.', '\' or not printable ASCII appear as "\." "\\" "\DDD".

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const CLASS = { IN: 1, CH: 3, ANY: 255 } as const;

export const OPCODE = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));

/** "MX" for 15, "TYPE65" for an unknown one (RFC 3597 §5). */
export function typeName(code: number): string {
  return TYPE_NAMES.get(code) ?? `TYPE${code}`;
}

/** 15 for "MX" or "TYPE15"; undefined for names we do not know. */
export function typeCode(name: string): number | undefined {
  const upper = name.toUpperCase();
  const known = (TYPE as Record<string, number>)[upper];
  if (known !== undefined) return known;
  const m = /^TYPE(\d{1,5})$/.exec(upper);
  if (m) {
    const n = Number(m[1]);
    if (n <= 0xffff) return n;
  }
  return undefined;
}

export interface DnsHeader {
  id: number;
  /** true in responses */
  qr: boolean;
  opcode: number;
  /** authoritative answer */
  aa: boolean;
  /** truncated: the client should retry over TCP */
  tc: boolean;
  /** recursion desired */
  rd: boolean;
  /** recursion available */
  ra: boolean;
  /** RFC 4035 authentic data */
  ad: boolean;
  /** RFC 4035 checking disabled */
  cd: boolean;
  /** low 4 bits; the upper 8 of an extended rcode live in `edns.extendedRcode` */
  rcode: number;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

interface RecordBase {
  name: string;
  class: number;
  ttl: number;
}

export interface ARecord extends RecordBase { type: 'A'; address: string }
export interface AaaaRecord extends RecordBase { type: 'AAAA'; address: string }
export interface MxRecord extends RecordBase { type: 'MX'; preference: number; exchange: string }
export interface CnameRecord extends RecordBase { type: 'CNAME'; target: string }
export interface NsRecord extends RecordBase { type: 'NS'; host: string }
export interface PtrRecord extends RecordBase { type: 'PTR'; target: string }
/** Character-strings as raw bytes (TXT is not necessarily UTF-8); see `txtText()`. */
export interface TxtRecord extends RecordBase { type: 'TXT'; strings: Buffer[] }
export interface SoaRecord extends RecordBase {
  type: 'SOA';
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  /** RFC 2308 §4: the negative-caching TTL */
  minimum: number;
}
/** Any other type, kept byte for byte (RFC 3597: such rdata never contains compressed names). */
export interface UnknownRecord extends RecordBase { type: 'UNKNOWN'; typeCode: number; rdata: Buffer }

export type DnsRecord = ARecord | AaaaRecord | MxRecord | CnameRecord | NsRecord | PtrRecord | TxtRecord | SoaRecord | UnknownRecord;

/** The OPT pseudo-record (RFC 6891 §6), lifted out of the additional section. */
export interface Edns {
  /** requestor's UDP payload size */
  udpSize: number;
  extendedRcode: number;
  version: number;
  /** DNSSEC OK bit */
  dnssecOk: boolean;
  /** remaining flag bits (after DO), normally 0 */
  flags: number;
  /** option TLVs, passed through untouched */
  options: Buffer;
}

export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  /** without the OPT record, which is in `edns` */
  additionals: DnsRecord[];
  edns?: Edns;
}

/** The numeric type of a record. */
export function recordTypeCode(r: DnsRecord): number {
  return r.type === 'UNKNOWN' ? r.typeCode : TYPE[r.type];
}

/** TXT strings joined and read as UTF-8 (what SPF/DKIM/DMARC consumers want). */
export function txtText(r: TxtRecord): string {
  return Buffer.concat(r.strings).toString('utf8');
}

export function emptyHeader(id = 0): DnsHeader {
  return { id, qr: false, opcode: 0, aa: false, tc: false, rd: false, ra: false, ad: false, cd: false, rcode: 0 };
}

/** Lower-cased, no trailing dot, root as "." — the form to compare and key by. */
export function canonicalName(name: string): string {
  let n = name.toLowerCase();
  if (n.length > 1 && n.endsWith('.') && !n.endsWith('\\.')) n = n.slice(0, -1);
  return n === '' ? '.' : n;
}

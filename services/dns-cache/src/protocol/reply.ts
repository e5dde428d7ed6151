// Building answers for clients. Pure.
import { encodeMessage, type DnsHeader, type DnsMessage, type DnsQuestion, type DnsRecord, type Edns } from '@hopmail/dns-wire';

/** RFC 8914 Extended DNS Error info-codes we use. */
export const EDE = { staleAnswer: 3, noReachableAuthority: 22, networkError: 23 } as const;

/** Our OPT record in answers to clients that sent one (RFC 6891 §7), with an EDE option (RFC 8914) when given. */
export function ourEdns(udpPayload: number, ede?: number): Edns {
  let options = Buffer.alloc(0);
  if (ede !== undefined) {
    options = Buffer.alloc(6);
    options.writeUInt16BE(15, 0); // OPTION-CODE 15: Extended DNS Error
    options.writeUInt16BE(2, 2);
    options.writeUInt16BE(ede, 4);
  }
  return { udpSize: udpPayload, extendedRcode: 0, version: 0, dnssecOk: false, flags: 0, options };
}

function replyHeader(q: Pick<DnsHeader, 'id' | 'opcode' | 'rd' | 'cd'>, rcode: number): DnsHeader {
  return { id: q.id, qr: true, opcode: q.opcode, aa: false, tc: false, rd: q.rd, ra: true, ad: false, cd: q.cd, rcode };
}

export function errorReply(h: Pick<DnsHeader, 'id' | 'opcode' | 'rd' | 'cd'>, questions: DnsQuestion[], rcode: number, clientEdns?: Edns, udpPayload = 1232, ede?: number): DnsMessage {
  const m: DnsMessage = { header: replyHeader(h, rcode), questions, answers: [], authorities: [], additionals: [] };
  if (clientEdns) m.edns = ourEdns(udpPayload, ede);
  return m;
}

/**
 * An answer to `query`: its id, flags and question exactly as sent (case included), the
 * records given, owner names spelled as the client spelled the question (DNS 0x20 clients
 * compare them).
 */
export function answerReply(query: DnsMessage, rcode: number, sections: { answers: DnsRecord[]; authorities: DnsRecord[]; additionals: DnsRecord[] }, udpPayload: number, ede?: number, ad = false): DnsMessage {
  const q = query.questions[0]!;
  const lower = q.name.toLowerCase();
  const spell = (r: DnsRecord): DnsRecord => (r.name !== q.name && r.name.toLowerCase() === lower ? { ...r, name: q.name } : r);
  const m: DnsMessage = {
    // AD to a client that asked for it (AD or DO set, RFC 6840 §5.7), for validated data only.
    header: { ...replyHeader(query.header, rcode), ad: ad && (query.header.ad || query.edns?.dnssecOk === true) },
    questions: query.questions,
    answers: sections.answers.map(spell),
    authorities: sections.authorities,
    additionals: sections.additionals,
  };
  if (query.edns) m.edns = ourEdns(udpPayload, ede);
  return m;
}

/** Largest UDP answer this client accepts: 512 without EDNS (RFC 1035 §4.2.1), else its size capped by ours. */
export function udpLimit(query: DnsMessage | undefined, udpPayload: number): number {
  if (!query?.edns) return 512;
  return Math.max(512, Math.min(query.edns.udpSize, udpPayload));
}

/**
 * Bytes for the wire. Over UDP, an answer larger than `limit` is replaced by an empty one
 * with TC set so the client retries over TCP (RFC 1035 §4.2.1, RFC 7766 §5).
 */
export function encodeReply(m: DnsMessage, limit: number | undefined): { bytes: Buffer; truncated: boolean } {
  const bytes = encodeMessage(m);
  if (limit === undefined || bytes.length <= limit) return { bytes, truncated: false };
  const empty: DnsMessage = { ...m, header: { ...m.header, tc: true }, answers: [], authorities: [], additionals: [] };
  return { bytes: encodeMessage(empty), truncated: true };
}

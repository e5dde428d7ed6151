// What to do with the bytes a client sent. Pure.
import { CLASS, FormatError, OPCODE, RCODE, TYPE, canonicalName, decodeHeader, decodeMessage, type DnsMessage, type DnsQuestion } from '@hopmail/dns-wire';
import { errorReply } from './reply.ts';

export type ClientQuery =
  /** not worth an answer: shorter than a header, or a response (answering those invites loops) */
  | { kind: 'drop'; reason: string }
  /** answered at once without the cache: FORMERR, NOTIMP, REFUSED, BADVERS */
  | { kind: 'reply'; reply: DnsMessage; reason: string }
  | { kind: 'query'; msg: DnsMessage; question: DnsQuestion; key: string };

/** Cache key of a question: class, type and the lower-cased name. */
export function questionKey(q: DnsQuestion): string {
  return `${q.class}:${q.type}:${canonicalName(q.name)}`;
}

export function classifyQuery(buf: Buffer): ClientQuery {
  let header;
  try {
    header = decodeHeader(buf);
  } catch {
    return { kind: 'drop', reason: 'short-header' };
  }
  if (header.qr) return { kind: 'drop', reason: 'response' };
  let msg: DnsMessage;
  try {
    msg = decodeMessage(buf);
  } catch (err) {
    const code = err instanceof FormatError ? err.code : 'dns.unknown';
    // RFC 1035 §4.1.1: FORMERR; the question could not be parsed, so none is echoed.
    return { kind: 'reply', reply: errorReply(header, [], RCODE.FORMERR), reason: code };
  }
  // RFC 6891 §6.1.3: an unknown EDNS version gets BADVERS (extended rcode 16 = 1 << 4).
  if (msg.edns && msg.edns.version !== 0) {
    const reply = errorReply(msg.header, msg.questions, 0, msg.edns);
    reply.edns!.extendedRcode = 1;
    return { kind: 'reply', reply, reason: 'badvers' };
  }
  if (msg.header.opcode !== OPCODE.QUERY) return { kind: 'reply', reply: errorReply(msg.header, msg.questions, RCODE.NOTIMP, msg.edns), reason: `opcode ${msg.header.opcode}` };
  const q = msg.questions[0];
  if (msg.questions.length !== 1 || !q) return { kind: 'reply', reply: errorReply(msg.header, msg.questions, RCODE.FORMERR, msg.edns), reason: `${msg.questions.length} questions` };
  if (q.class !== CLASS.IN) return { kind: 'reply', reply: errorReply(msg.header, msg.questions, RCODE.REFUSED, msg.edns), reason: `class ${q.class}` };
  // Zone transfers and meta types are not a cache's business.
  if (q.type === 251 || q.type === 252 || q.type === TYPE.OPT || (q.type >= 128 && q.type <= 254)) {
    return { kind: 'reply', reply: errorReply(msg.header, msg.questions, RCODE.REFUSED, msg.edns), reason: `qtype ${q.type}` };
  }
  return { kind: 'query', msg, question: q, key: questionKey(q) };
}

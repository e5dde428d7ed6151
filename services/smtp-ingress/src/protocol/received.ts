// The trace field we prepend (RFC 5321 §4.4, RFC 5322 §3.6.7):
//
//   Received: from <helo> (<rdns> [<ip>])
//           by <hostname> (Hopmail) with ESMTP id <queue id>
//           for <rcpt>; <date>
//
// The queue id is the message id (UUIDv7) so that a header found in a bounce or a
// complaint leads straight to the messages row and the logs.

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface ReceivedInfo {
  /** EHLO/HELO argument as the client gave it. */
  helo: string;
  /** Reverse DNS name of the client, when known. */
  rdns: string | null;
  ip: string;
  hostname: string;
  /** RFC 3848 / RFC 6531 protocol type: ESMTP, ESMTPS, ESMTPA, UTF8SMTP… */
  protocol: string;
  id: string;
  /** Named in a `for` clause only when there is exactly one (no Bcc disclosure). */
  recipients: readonly string[];
  date: Date;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 §3.3 date-time in UTC. */
export function rfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** RFC 5321 §4.1.3 address literal. */
export function addressLiteral(ip: string): string {
  return ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
}

// The HELO name is client-chosen; keep comment and field syntax intact whatever it is.
const sanitize = (s: string) => s.replace(/[^A-Za-z0-9.\-_:[\]]/g, '_') || 'unknown';

export function receivedHeader(r: ReceivedInfo): string {
  const lit = addressLiteral(r.ip);
  const tcpInfo = r.rdns ? `${sanitize(r.rdns)} ${lit}` : lit;
  const head = `Received: from ${sanitize(r.helo)} (${tcpInfo})\r\n\tby ${r.hostname} (Hopmail) with ${r.protocol} id ${r.id}`;
  const rcpt = r.recipients.length === 1 && /^[^\s<>\r\n]+$/.test(r.recipients[0]!) ? r.recipients[0] : null;
  return rcpt ? `${head}\r\n\tfor <${rcpt}>; ${rfc5322Date(r.date)}\r\n` : `${head};\r\n\t${rfc5322Date(r.date)}\r\n`;
}

/** RFC 3848 / RFC 6531 `with` keyword. */
export function protocolType(session: { ehlo: boolean; tls: boolean; auth: boolean; smtputf8: boolean }): string {
  const base = session.smtputf8 ? 'UTF8SMTP' : session.ehlo ? 'ESMTP' : 'SMTP';
  return base + (session.tls ? 'S' : '') + (session.auth ? 'A' : '');
}

// Delivery Status Notifications: RFC 3464 (message/delivery-status) inside RFC 6522
// multipart/report (obsoletes RFC 3462), original headers as text/rfc822-headers.
// Pure: every input, including the clock, ids and boundary, is passed in.

/** RFC 3464 §2.3.3 actions of a success report (NOTIFY=SUCCESS, RFC 3461 §6.2). */
export type SuccessAction = 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  /** Address the delivery was attempted to. */
  finalRecipient: string;
  /** The address as the sender gave it, when alias expansion changed it. */
  originalRecipient?: string | null;
  /** The client's ORCPT (`addr-type;address`, decoded): Original-Recipient, in place of originalRecipient. */
  orcpt?: string | null;
  /** For a success report: what happened to this recipient. */
  action?: SuccessAction;
  /** RFC 3463 enhanced status, e.g. 5.1.1. */
  status: string;
  /** MX host that produced the diagnostic, when it came from a remote server. */
  remoteMta?: string | null;
  /** The reply text (SMTP reply for remote failures, our own reason otherwise). */
  diagnostic?: string | null;
  lastAttemptDate?: Date | null;
}

export interface DsnInput {
  /** `success`: each recipient carries its own action (delivered, relayed, expanded). */
  action: 'failed' | 'delayed' | 'success';
  reportingMta: string;
  /** Our queue id of the original message (X-Hopmail-Queue-ID, RFC 3464 §2.2.2 extension). */
  queueId: string;
  arrivalDate: Date;
  now: Date;
  /** Envelope sender of the original message: the DSN's To and envelope recipient. */
  to: string;
  messageId: string;
  boundary: string;
  recipients: readonly DsnRecipient[];
  /** For delayed DSNs (RFC 3464 §2.3.9). */
  willRetryUntil?: Date;
  originalHeaders: Buffer;
  /** ENVID of the original transaction (RFC 3464 §2.2.1 Original-Envelope-Id), decoded. */
  envid?: string | null;
  /** RET=FULL on a failure report: the whole original message, as message/rfc822 (RFC 3461 §4.3). */
  originalMessage?: Buffer | null;
  /** RET=FULL asked for a message larger than the cap: only its headers are returned (said in the text). */
  returnLimited?: { size: number; limit: number };
}

const SUBJECTS: Record<DsnInput['action'], string> = {
  failed: 'Undelivered Mail Returned to Sender',
  delayed: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
};

/** The returned message as a body part: CRLF-terminated. */
function original(raw: Buffer): string {
  const s = raw.toString('utf8');
  return s.endsWith('\r\n') ? s : `${s}\r\n`;
}

export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

// Any UTF-16 code unit above 0x7f (surrogates included): not ASCII.
const nonAscii = (s: string) => /[\u0080-\uffff]/.test(s);

/** RFC 3464 §2.3.2 address-type; utf-8 for internationalised addresses (RFC 6533 §3). */
function typedAddress(a: string): string {
  return `${nonAscii(a) ? 'utf-8' : 'rfc822'}; ${a}`;
}

/** Field values must not contain CR/LF (a remote reply can be multi-line). */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\r\n]+/g, ' ').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').trim();
}

function humanText(input: DsnInput): string {
  const lines: string[] = [];
  lines.push(`This is the mail system at host ${input.reportingMta}.`, '');
  if (input.action === 'failed') {
    lines.push("I'm sorry to have to inform you that your message could not", 'be delivered to one or more recipients. It\'s attached below.', '');
  } else if (input.action === 'success') {
    lines.push('Your message was successfully delivered to the destinations listed', 'below. If the message was relayed or expanded, you will receive no', 'further notifications from here about those destinations.', '');
  } else {
    lines.push('####################################################################', '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #', '####################################################################', '');
    lines.push('Your message could not be delivered for some time. It will be retried', `until ${rfc5322Date(input.willRetryUntil ?? input.now)}.`, '');
  }
  for (const r of input.recipients) {
    const via = r.remoteMta ? ` (host ${r.remoteMta} said: ${oneLine(r.diagnostic ?? '')})` : r.diagnostic ? ` (${oneLine(r.diagnostic)})` : '';
    lines.push(`<${r.finalRecipient}>: ${r.status}${via}`);
  }
  if (input.returnLimited) {
    lines.push('', `The message (${input.returnLimited.size} bytes) is larger than the ${input.returnLimited.limit} bytes returned in full:`, 'only its headers are attached below.');
  }
  return lines.join('\r\n') + '\r\n';
}

/** Builds the complete DSN message (headers + body), CRLF line ends. */
export function buildDsn(input: DsnInput): { raw: Buffer; smtputf8: boolean; body8bit: boolean } {
  if (input.recipients.length === 0) throw new Error('a DSN needs at least one recipient');
  const b = input.boundary;
  const subject = SUBJECTS[input.action];
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${input.to}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <${input.messageId}>`,
    // RFC 3834 §5: keeps auto-responders from answering the bounce.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${b}"`,
    'Content-Transfer-Encoding: 8bit',
  ].join('\r\n');

  // RFC 3464 §2.2: Original-Envelope-Id comes first when the sender gave an ENVID.
  const perMessage = [...(input.envid ? [`Original-Envelope-Id: ${oneLine(input.envid)}`] : []), `Reporting-MTA: dns; ${input.reportingMta}`, `X-Hopmail-Queue-ID: ${input.queueId}`, `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`];
  const perRecipient = input.recipients.map((r) => {
    const f = [`Final-Recipient: ${typedAddress(r.finalRecipient)}`];
    // RFC 3461 §6.3: the ORCPT as given, else the address alias expansion started from.
    if (r.orcpt) f.push(`Original-Recipient: ${oneLine(r.orcpt)}`);
    else if (r.originalRecipient && r.originalRecipient.toLowerCase() !== r.finalRecipient.toLowerCase()) f.push(`Original-Recipient: ${typedAddress(r.originalRecipient)}`);
    f.push(`Action: ${input.action === 'success' ? (r.action ?? 'delivered') : input.action}`, `Status: ${r.status}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${r.remoteMta}`);
    if (r.diagnostic) f.push(`Diagnostic-Code: ${r.remoteMta ? 'smtp' : 'X-Hopmail'}; ${oneLine(r.diagnostic)}`);
    if (r.lastAttemptDate) f.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptDate)}`);
    if (input.action === 'delayed' && input.willRetryUntil) f.push(`Will-Retry-Until: ${rfc5322Date(input.willRetryUntil)}`);
    return f.join('\r\n');
  });
  const status = [perMessage.join('\r\n'), ...perRecipient].join('\r\n\r\n') + '\r\n';

  let orig = input.originalHeaders.toString('utf8');
  if (!orig.endsWith('\r\n')) orig += '\r\n';
  // The boundary must not occur in any part (RFC 2046 §5.1.1); callers pass a random one.
  const parts = [
    `${head}\r\n\r\nThis is a MIME-encapsulated message.\r\n`,
    `--${b}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${humanText(input)}`,
    `--${b}\r\nContent-Description: Delivery report\r\nContent-Type: ${input.recipients.some((r) => nonAscii(r.finalRecipient) || nonAscii(r.originalRecipient ?? '')) ? 'message/global-delivery-status' : 'message/delivery-status'}\r\n\r\n${status}`,
    input.originalMessage
      ? `--${b}\r\nContent-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${original(input.originalMessage)}`
      : `--${b}\r\nContent-Description: ${input.action === 'success' ? 'Delivered' : 'Undelivered'} Message Headers\r\nContent-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${orig}`,
    `--${b}--\r\n`,
  ];
  const raw = Buffer.from(parts.join('\r\n'), 'utf8');
  const body8bit = raw.some((x) => x > 0x7f);
  return { raw, body8bit, smtputf8: nonAscii(input.to) };
}

// One message's trace events as a timeline a person reads (pure): what happened, where, and
// the details that matter for each kind of step.

export interface TraceEvent {
  id: number;
  at: string;
  type: string;
  recipient: string | null;
  service: string | null;
  actor: string | null;
  data: Record<string, unknown>;
}

export type Tone = 'ok' | 'warn' | 'bad' | 'info';

export interface TimelineItem {
  id: number;
  at: string;
  title: string;
  tone: Tone;
  recipient: string | null;
  /** label → value lines, in order; values are plain text (rendered as text, never HTML). */
  details: [string, string][];
}

const str = (v: unknown): string | null => (v === undefined || v === null || v === '' ? null : typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

function lines(data: Record<string, unknown>, fields: [string, string][]): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, label] of fields) {
    const v = data[key];
    if (key === 'tls' && typeof v === 'boolean') out.push([label, v ? 'yes' : 'no']);
    else {
      const s = str(v);
      if (s !== null) out.push([label, s]);
    }
  }
  return out;
}

const TITLES: Record<string, [string, Tone]> = {
  received: ['Received', 'info'],
  routed: ['Routed', 'info'],
  'delivered-mailbox': ['Delivered to mailbox', 'ok'],
  delivered: ['Delivered', 'ok'],
  'relay-attempt': ['Relay attempt', 'info'],
  deferred: ['Deferred', 'warn'],
  bounced: ['Bounced', 'bad'],
  'dsn-sent': ['Delivery status notification', 'info'],
  'delay-warning': ['Delay warning sent', 'warn'],
  'deleted-by-pop3': ['Deleted by the POP3 client', 'info'],
  'admin-action': ['Administrator action', 'info'],
};

export function timeline(events: readonly TraceEvent[]): TimelineItem[] {
  return events.map((e) => {
    const [title0, tone0] = TITLES[e.type] ?? [e.type, 'info' as Tone];
    let title = title0;
    let tone = tone0;
    let details: [string, string][];
    const d = e.data ?? {};
    switch (e.type) {
      case 'received':
        details = lines(d, [['sender', 'Sender'], ['clientIp', 'Client IP'], ['helo', 'HELO'], ['tls', 'TLS'], ['authUser', 'Authenticated as'], ['size', 'Size (bytes)'], ['headerMessageId', 'Message-ID']]);
        if (d.sender === '') details.unshift(['Sender', '<> (null sender)']);
        break;
      case 'relay-attempt': {
        const outcome = str(d.outcome);
        title = `Relay attempt${outcome ? `: ${outcome}` : ''}`;
        tone = outcome === 'delivered' || outcome === 'success' ? 'ok' : outcome && /fail|bounce|reject/i.test(outcome) ? 'bad' : outcome && /defer|temp|timeout|error/i.test(outcome) ? 'warn' : 'info';
        details = lines(d, [['domain', 'Domain'], ['mx', 'MX'], ['ip', 'IP'], ['port', 'Port'], ['tls', 'TLS'], ['reply', 'Remote reply'], ['recipients', 'Recipients'], ['finishedAt', 'Finished']]);
        break;
      }
      case 'deferred':
        details = lines(d, [['reply', 'Remote reply'], ['mx', 'MX'], ['attempts', 'Attempts'], ['nextAttemptAt', 'Next attempt']]);
        break;
      case 'bounced':
        details = lines(d, [['reply', 'Reason'], ['status', 'Status'], ['mx', 'MX']]);
        break;
      case 'dsn-sent':
        title = d.suppressed === true ? 'No DSN (null sender)' : ['delivered', 'relayed', 'expanded'].includes(str(d.action) ?? '') ? 'Success DSN sent to the sender' : 'DSN sent to the sender';
        details = lines(d, [['action', 'Action'], ['dsnMessageId', 'DSN message']]);
        break;
      case 'admin-action':
        title = `Administrator: ${str(d.action) ?? 'action'}`;
        details = lines(d, [['action', 'Action']]);
        break;
      default:
        details = Object.entries(d).flatMap(([k, v]) => {
          const s = str(v);
          return s === null ? [] : [[k, s] as [string, string]];
        });
    }
    if (d.dsnSuccess === 'passed-on') {
      details = details.filter(([k]) => k !== 'dsnSuccess');
      details.push(['Success DSN', 'the next hop’s to send (NOTIFY passed on)']);
    }
    if (e.actor && e.type !== 'received') details.push(['By', e.actor]);
    if (e.service) details.push(['Service', e.service]);
    return { id: e.id, at: e.at, title, tone, recipient: e.recipient, details };
  });
}

/** Fields of a message object beyond the ones the console knows: authentication results and whatever else the API adds. */
export function extraFields(message: Record<string, unknown>, known: readonly string[]): [string, string][] {
  return Object.entries(message)
    .filter(([k]) => !known.includes(k))
    .map(([k, v]) => [k, str(v) ?? '–'] as [string, string]);
}

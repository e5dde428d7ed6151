// The message trace vocabulary: what happened to a message, hop by hop. Stored in
// message_events (0005_operations.sql); the public subset is published to a Redis stream.

export const EVENT_TYPES = [
  'received',
  'routed',
  'delivered-mailbox',
  'delivered',
  'relay-attempt',
  'deferred',
  'bounced',
  'dsn-sent',
  'delay-warning',
  'deleted-by-pop3',
  'admin-action',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

interface Base {
  messageId: string;
  /** Envelope recipient the event is about; absent for whole-message events. */
  recipient?: string | null;
  /** Service that recorded it (triggers leave it empty). */
  service?: string;
  /** Who caused it, for admin actions: 'bootstrap', 'key:<id>'. */
  actor?: string;
  at?: Date;
}

export type MessageEvent =
  | (Base & { type: 'received'; data: { sender: string; size: number; clientIp?: string; helo?: string; authUser?: string; tls: boolean; headerMessageId?: string } })
  /** dsnSuccess: the NOTIFY=SUCCESS report became the next hop's or the alias target's to send (migration 0026). */
  | (Base & { type: 'routed'; data: { status: string; domain?: string; via?: string; mailbox?: string; dsnSuccess?: 'passed-on' } })
  | (Base & { type: 'delivered-mailbox'; data: { mailbox: string; uidl?: string; size?: number } })
  | (Base & { type: 'delivered'; data: { mx?: string; reply?: string; dsnSuccess?: 'passed-on' } })
  | (Base & { type: 'relay-attempt'; data: { domain: string; mx?: string; ip?: string; port?: number; tls: boolean; outcome: string; reply?: string; recipients: string[] } })
  | (Base & { type: 'deferred'; data: { reply?: string; nextAttemptAt?: string; attempts?: number } })
  | (Base & { type: 'bounced'; data: { reply?: string; status: 'bounced' | 'failed' } })
  /** action: the report's RFC 3464 Action for this recipient; a success report (NOTIFY=SUCCESS) is delivered, relayed or expanded, status 2.0.0. */
  | (Base & { type: 'dsn-sent'; data: { action: 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded'; status?: '2.0.0'; dsnMessageId?: string; suppressed?: boolean } })
  | (Base & { type: 'delay-warning'; data: { reply?: string; nextAttemptAt?: string } })
  | (Base & { type: 'deleted-by-pop3'; data: { mailbox?: string; uidl?: string } })
  | (Base & { type: 'admin-action'; data: { action: string; [k: string]: unknown } });

/** Public delivery events (webhooks, the Redis stream) and the trace types they come from. */
export const PUBLIC_EVENTS = {
  'message.received': ['received'],
  'message.delivered': ['delivered-mailbox', 'delivered'],
  'message.deferred': ['deferred'],
  'message.bounced': ['bounced'],
  'message.delay-warning': ['delay-warning'],
} as const satisfies Record<string, readonly EventType[]>;
export type PublicEventType = keyof typeof PUBLIC_EVENTS;
export const PUBLIC_EVENT_TYPES = Object.keys(PUBLIC_EVENTS) as PublicEventType[];

const toPublic = new Map<string, PublicEventType>();
for (const [pub, internal] of Object.entries(PUBLIC_EVENTS)) for (const t of internal) toPublic.set(t, pub as PublicEventType);

/** The public name of a trace event type, or undefined when it is internal only. */
export function publicTypeOf(type: string): PublicEventType | undefined {
  return toPublic.get(type);
}

/** Trace types that feed public events (the outbox's partial index covers exactly these). */
export const PUBLISHED_TRACE_TYPES: readonly EventType[] = [...toPublic.keys()] as EventType[];

/** A stored event as read back from message_events. */
export interface StoredEvent {
  id: number;
  messageId: string;
  recipient: string | null;
  type: EventType;
  at: Date;
  service: string | null;
  actor: string | null;
  data: Record<string, unknown>;
}

/** What a stream entry and a webhook body carry. */
export interface PublicEvent {
  /** message_events.id: stable, consumers deduplicate on it. */
  id: string;
  type: PublicEventType;
  at: string;
  messageId: string;
  recipient: string | null;
  data: Record<string, unknown>;
}

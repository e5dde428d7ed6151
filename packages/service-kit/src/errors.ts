// Coded errors and event codes (CONVENTIONS §6, §7), one shape for every service:
//
//   export const ERRORS = defineErrors({
//     storeFailed: { code: 'smtp-ingress.store-failed', temporary: true, smtp: { code: 451, enhanced: '4.3.0', text: '…' } },
//   });
//   export class IngressError extends codedErrorClass('IngressError', ERRORS) {}
//   throw new IngressError('storeFailed', 'message … not stored', cause);
//
//   export const EVENTS = defineEvents('smtp-ingress', { messageAccepted: 'smtp-ingress.message-accepted', … });
//
// The registry is keyed by kind; what a protocol answers (SMTP reply, POP3 response code,
// HTTP status) is data in the entry, so the adapter that speaks the protocol reads it there.

export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

export interface ErrorSpec {
  /** Stable code for logs and clients, prefixed with the service that raises it. */
  code: string;
  /** Whether trying again later can succeed (4xx, BullMQ retry) or not (5xx, UnrecoverableError). */
  temporary: boolean;
  /** Message used when the thrower gives none. */
  message?: string;
  smtp?: SmtpReply;
  /** POP3 response code (RFC 2449 §8, RFC 3206), e.g. SYS/TEMP. */
  pop3?: string;
  /** IMAP response code (RFC 9051 §7.1, RFC 5530), e.g. UNAVAILABLE. */
  imap?: string;
  http?: number;
}

export type ErrorRegistry = Record<string, ErrorSpec>;

/** Checks the shape of a registry and keeps its literal types. */
export function defineErrors<const R extends ErrorRegistry>(registry: R): R {
  return registry;
}

export class CodedError extends Error {
  readonly code: string;
  readonly smtp: SmtpReply | undefined;
  readonly pop3: string | undefined;
  readonly imap: string | undefined;
  readonly httpStatus: number | undefined;
  readonly temporary: boolean;
  constructor(code: string, message: string, opts: { smtp?: SmtpReply; pop3?: string; imap?: string; httpStatus?: number; temporary: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = 'CodedError';
    this.code = code;
    this.smtp = opts.smtp;
    this.pop3 = opts.pop3;
    this.imap = opts.imap;
    this.httpStatus = opts.httpStatus;
    this.temporary = opts.temporary;
  }
}

/** The error class of one registry: `new X(kind, message?, cause?)` takes code, replies and temporariness from the entry. */
export function codedErrorClass<const R extends ErrorRegistry>(name: string, registry: R) {
  return class extends CodedError {
    readonly kind: keyof R & string;
    constructor(kind: keyof R & string, message?: string, cause?: unknown) {
      const spec = registry[kind]!;
      super(spec.code, message ?? spec.message ?? spec.code, { smtp: spec.smtp, pop3: spec.pop3, imap: spec.imap, httpStatus: spec.http, temporary: spec.temporary, cause });
      this.name = name;
      this.kind = kind;
    }
  };
}

/** Permanent when a coded error says so; anything else (PostgreSQL or Redis down, a timeout) may succeed later. */
export function isPermanent(err: unknown): boolean {
  return err instanceof CodedError && !err.temporary;
}

/**
 * A service's table of log `event` codes. Every value starts with the service's name, so a
 * line's origin is plain from its event alone; the README's DIAGNOSTICS lists the table.
 */
export function defineEvents<const P extends string, const T extends Record<string, `${P}.${string}`>>(service: P, table: T): T {
  for (const [k, v] of Object.entries(table)) {
    if (!v.startsWith(`${service}.`)) throw new Error(`event ${k}=${v} is not prefixed with ${service}.`);
  }
  return table;
}

// Coded errors of the POP3 service (CONVENTIONS §6). POP3 has no numeric replies: each
// error knows its RFC 2449 / RFC 3206 response code and whether the client may retry.
import { CodedError } from '@hopmail/service-kit';

export const POP3_ERRORS = {
  'pop3.maildrop-lost': { message: 'the maildrop connection to PostgreSQL was lost', temporary: true, respCode: 'SYS/TEMP' },
  'pop3.message-gone': { message: 'a message in the session snapshot no longer exists', temporary: true, respCode: 'SYS/TEMP' },
} as const;

export type Pop3ErrorCode = keyof typeof POP3_ERRORS;

export class Pop3Error extends CodedError {
  readonly respCode: string;
  constructor(code: Pop3ErrorCode, cause?: unknown) {
    const e = POP3_ERRORS[code];
    super(code, e.message, { temporary: e.temporary, cause });
    this.name = 'Pop3Error';
    this.respCode = e.respCode;
  }
}

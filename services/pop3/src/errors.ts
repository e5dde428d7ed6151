// Coded errors of the pop3 service (CONVENTIONS §6). POP3 has no numeric replies: each entry
// carries its RFC 2449 / RFC 3206 response code and whether the client may try again.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';

export const ERRORS = defineErrors({
  maildropLost: { code: 'pop3.maildrop-lost', temporary: true, pop3: 'SYS/TEMP', message: 'the maildrop connection to PostgreSQL was lost' },
  messageGone: { code: 'pop3.message-gone', temporary: true, pop3: 'SYS/TEMP', message: 'a message in the session snapshot no longer exists' },
});

export class Pop3Error extends codedErrorClass('Pop3Error', ERRORS) {}

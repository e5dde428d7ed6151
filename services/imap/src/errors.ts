// Coded errors of the imap service (CONVENTIONS §6). IMAP answers with response codes
// (RFC 9051 §7.1); each entry carries its code and whether the client may try again.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';

export const ERRORS = defineErrors({
  storageUnavailable: { code: 'imap.storage-unavailable', temporary: true, imap: 'UNAVAILABLE', message: 'PostgreSQL did not answer' },
  notifyLost: { code: 'imap.notify-lost', temporary: true, imap: 'UNAVAILABLE', message: 'the LISTEN connection for change notifications was lost' },
});

export class ImapError extends codedErrorClass('ImapError', ERRORS) {}

// Log event codes of the imap service (CONVENTIONS §7). README DIAGNOSTICS lists every one.
import { defineEvents } from '@hopmail/service-kit';

export const EVENTS = defineEvents('imap', {
  listening: 'imap.listening',
  tlsDisabled: 'imap.tls.disabled',
  tlsEstablished: 'imap.tls.established',
  tlsHandshakeFailed: 'imap.tls.handshake-failed',
  connRefused: 'imap.conn.refused',
  sessionStart: 'imap.session.start',
  sessionEnd: 'imap.session.end',
  sessionAutologout: 'imap.session.autologout',
  sessionError: 'imap.session.error',
  sessionTooManyFailures: 'imap.session.too-many-failures',
  sessionTooManyBadCommands: 'imap.session.too-many-bad-commands',
  authSucceeded: 'imap.auth.succeeded',
  authFailed: 'imap.auth.failed',
  authUnavailable: 'imap.auth.unavailable',
  authLookupFailed: 'imap.auth.lookup-failed',
  ratelimitUnavailable: 'imap.ratelimit.unavailable',
  notifyListening: 'imap.notify.listening',
  notifyLost: 'imap.notify.lost',
  searchIndexFailed: 'imap.search-index.failed',
});

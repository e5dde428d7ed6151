// Log event codes of the pop3 service (CONVENTIONS §7). The engine's session events and the
// adapters' lines both come from here; README DIAGNOSTICS lists every one. Certificate events
// (`tls.loaded`, `tls.reloaded`, …) are @hopmail/tls's own and the skeleton's (`start.*`,
// `shutdown.*`, `config.invalid`, `redis.*`) are service-kit's.
import { defineEvents } from '@hopmail/service-kit';

export const EVENTS = defineEvents('pop3', {
  listening: 'pop3.listening',
  tlsDisabled: 'pop3.tls.disabled',
  tlsStls: 'pop3.tls.stls',
  tlsDiscarded: 'pop3.tls.discarded',
  tlsEstablished: 'pop3.tls.established',
  tlsHandshakeFailed: 'pop3.tls.handshake-failed',
  connRefused: 'pop3.conn.refused',
  sessionStart: 'pop3.session.start',
  sessionEnd: 'pop3.session.end',
  sessionAutologout: 'pop3.session.autologout',
  sessionStalled: 'pop3.session.stalled',
  sessionError: 'pop3.session.error',
  sessionReleaseFailed: 'pop3.session.release-failed',
  sessionTooManyFailures: 'pop3.session.too-many-failures',
  sessionTooManyBadCommands: 'pop3.session.too-many-bad-commands',
  authSucceeded: 'pop3.auth.succeeded',
  authFailed: 'pop3.auth.failed',
  authUnavailable: 'pop3.auth.unavailable',
  authLookupFailed: 'pop3.auth.lookup-failed',
  ratelimitUnavailable: 'pop3.ratelimit.unavailable',
  maildropInUse: 'pop3.maildrop.in-use',
  maildropUnavailable: 'pop3.maildrop.unavailable',
  updateDone: 'pop3.update.done',
  updateFailed: 'pop3.update.failed',
  readFailed: 'pop3.read.failed',
});

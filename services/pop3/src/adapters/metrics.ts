import { prom } from '@hopmail/service-kit';

export interface Pop3Metrics {
  connections: prom.Counter<'result'>;
  sessions: prom.Gauge;
  logins: prom.Counter<'result'>;
  updates: prom.Counter<'result'>;
  deleted: prom.Counter;
  bytesSent: prom.Counter;
  tlsHandshakes: prom.Counter<'how' | 'result'>;
}

export function createMetrics(registry: prom.Registry): Pop3Metrics {
  const registers = [registry];
  return {
    connections: new prom.Counter({ name: 'hopmail_pop3_connections_total', help: 'POP3 connections by admission result', labelNames: ['result'], registers }),
    sessions: new prom.Gauge({ name: 'hopmail_pop3_sessions', help: 'open POP3 connections', registers }),
    logins: new prom.Counter({ name: 'hopmail_pop3_logins_total', help: 'login attempts by result', labelNames: ['result'], registers }),
    updates: new prom.Counter({ name: 'hopmail_pop3_updates_total', help: 'UPDATE states by result', labelNames: ['result'], registers }),
    deleted: new prom.Counter({ name: 'hopmail_pop3_deleted_messages_total', help: 'messages removed from mailboxes by QUIT', registers }),
    bytesSent: new prom.Counter({ name: 'hopmail_pop3_bytes_sent_total', help: 'octets written to POP3 clients', registers }),
    tlsHandshakes: new prom.Counter({ name: 'hopmail_pop3_tls_handshakes_total', help: 'TLS handshakes by kind (stls, implicit) and result', labelNames: ['how', 'result'], registers }),
  };
}

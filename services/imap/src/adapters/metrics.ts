import { prom } from '@hopmail/service-kit';

export interface ImapMetrics {
  connections: prom.Counter<'result'>;
  sessions: prom.Gauge;
  logins: prom.Counter<'result'>;
  bytesSent: prom.Counter;
  tlsHandshakes: prom.Counter<'how' | 'result'>;
}

export function createMetrics(registry: prom.Registry): ImapMetrics {
  const registers = [registry];
  return {
    connections: new prom.Counter({ name: 'hopmail_imap_connections_total', help: 'IMAP connections by admission result', labelNames: ['result'], registers }),
    sessions: new prom.Gauge({ name: 'hopmail_imap_sessions', help: 'open IMAP connections', registers }),
    logins: new prom.Counter({ name: 'hopmail_imap_logins_total', help: 'login attempts by result', labelNames: ['result'], registers }),
    bytesSent: new prom.Counter({ name: 'hopmail_imap_bytes_sent_total', help: 'octets written to IMAP clients', registers }),
    tlsHandshakes: new prom.Counter({ name: 'hopmail_imap_tls_handshakes_total', help: 'TLS handshakes by kind (starttls, implicit) and result', labelNames: ['how', 'result'], registers }),
  };
}


import { createRegistry, prom } from '@hopmail/service-kit';

export type Registry = ReturnType<typeof createRegistry>;
export type IngressMetrics = ReturnType<typeof createMetrics>;

export function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    accepted: new prom.Counter({ name: 'hopmail_smtp_messages_accepted_total', help: 'messages committed and answered 250', labelNames: ['listener'], registers }),
    rejected: new prom.Counter({
      name: 'hopmail_smtp_rejections_total',
      help: 'refused connections, senders, recipients and messages, by SMTP stage and reason',
      labelNames: ['stage', 'reason'],
      registers,
    }),
    messageSize: new prom.Histogram({
      name: 'hopmail_smtp_message_size_bytes',
      help: 'size of accepted messages as received (before the Received: header)',
      buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
      registers,
    }),
    activeConnections: new prom.Gauge({ name: 'hopmail_smtp_connections_active', help: 'open SMTP sessions', labelNames: ['listener'], registers }),
    connections: new prom.Counter({ name: 'hopmail_smtp_connections_total', help: 'SMTP sessions by outcome of the connect policy', labelNames: ['listener', 'result'], registers }),
    auth: new prom.Counter({ name: 'hopmail_smtp_auth_total', help: 'AUTH attempts by listener and result (ok, bad-credentials, auth-locked, authzid-mismatch)', labelNames: ['listener', 'result'], registers }),
    tlsHandshakes: new prom.Counter({ name: 'hopmail_smtp_tls_handshakes_total', help: 'completed TLS handshakes (STARTTLS or implicit) by listener and protocol version', labelNames: ['listener', 'version'], registers }),
    mailAuth: new prom.Counter({
      name: 'hopmail_smtp_mail_auth_results_total',
      help: 'inbound authentication results of messages from the outside (check: spf, dkim (per signature), dmarc, arc; spf-rcpt: the SPF check at RCPT of an allowlisted sender domain for greylisting; RFC 8601 result)',
      labelNames: ['check', 'result'],
      registers,
    }),
    spamChecks: new prom.Counter({ name: 'hopmail_smtp_spam_checks_total', help: 'content filter (rspamd) verdicts by listener and action; unavailable: down, slow or garbage', labelNames: ['listener', 'action'], registers }),
    spamCheckSeconds: new prom.Histogram({ name: 'hopmail_smtp_spam_check_seconds', help: 'time to get the content filter verdict', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
    spamHeld: new prom.Counter({ name: 'hopmail_smtp_spam_held_total', help: 'authenticated submissions rspamd rejected: held, not relayed', labelNames: ['listener'], registers }),
    greylist: new prom.Counter({ name: 'hopmail_smtp_greylist_total', help: 'greylisting decisions at RCPT: new and early (deferred), passed, known, client-allowlisted, exempt, unavailable', labelNames: ['result'], registers }),
    dnsbl: new prom.Counter({ name: 'hopmail_smtp_dnsbl_total', help: 'DNSBL outcome of sessions that reached RCPT: blocked, allowlisted, clean', labelNames: ['result'], registers }),
    dnsblListings: new prom.Counter({ name: 'hopmail_smtp_dnsbl_listings_total', help: 'clients named by each DNS list at connect', labelNames: ['zone'], registers }),
    rateLimited: new prom.Counter({ name: 'hopmail_smtp_rate_limited_total', help: 'refusals by the per-client limits (all replicas): concurrent-connections, connections, messages, recipients, unknown-recipients', labelNames: ['kind'], registers }),
    enqueueFailures: new prom.Counter({ name: 'hopmail_smtp_enqueue_failures_total', help: 'committed messages whose route-message job could not be added (the reconciler re-enqueues them)', registers }),
  };
}

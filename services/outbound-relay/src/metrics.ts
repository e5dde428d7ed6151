import { prom, type createRegistry } from '@hopmail/service-kit';

export function createMetrics(registry: ReturnType<typeof createRegistry>) {
  return {
    attempts: new prom.Counter({ name: 'hopmail_relay_attempts_total', help: 'delivery attempts by outcome (delivered, deferred, bounced, mixed, failover, possible-duplicate)', labelNames: ['outcome'], registers: [registry] }),
    recipients: new prom.Counter({ name: 'hopmail_relay_recipients_total', help: 'recipient results by new status', labelNames: ['outcome'], registers: [registry] }),
    latency: new prom.Histogram({ name: 'hopmail_relay_delivery_latency_seconds', help: 'time from receipt to remote acceptance', buckets: [0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 14400, 86400, 432000], registers: [registry] }),
    sessionSeconds: new prom.Histogram({ name: 'hopmail_relay_transaction_seconds', help: 'duration of one SMTP transaction', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120], registers: [registry] }),
    throttled: new prom.Counter({ name: 'hopmail_relay_throttled_total', help: 'deliveries postponed by per-destination limits', labelNames: ['reason'], registers: [registry] }),
    dsns: new prom.Counter({ name: 'hopmail_relay_dsn_total', help: 'DSNs queued by action', labelNames: ['action'], registers: [registry] }),
    lag: new prom.Gauge({ name: 'hopmail_relay_queue_lag_seconds', help: 'age of the oldest due relay work (measured by the scheduler)', registers: [registry] }),
  };
}

export type RelayMetrics = ReturnType<typeof createMetrics>;

import { prom } from '@hopmail/service-kit';

// prom-client is a dependency of service-kit, not of this package: take its types from there.
type Registry = InstanceType<typeof prom.Registry>;
type Counter<L extends string> = InstanceType<typeof prom.Counter<L>>;
type Histogram = InstanceType<typeof prom.Histogram>;

export interface RoutingMetrics {
  jobs: Counter<'result'>;
  deliveries: Counter<'outcome'>;
  tlsReports: Counter<'result'>;
  jobSeconds: Histogram;
  reconcileRequeued: Counter<'queue' | 'action'>;
  reconcileRuns: Counter<'result'>;
}

export function createMetrics(registry: Registry): RoutingMetrics {
  return {
    jobs: new prom.Counter({
      name: 'hopmail_routing_jobs_total',
      help: 'route-message jobs processed, by result (completed, retry, failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
    deliveries: new prom.Counter({
      name: 'hopmail_routing_deliveries_total',
      help: 'routing outcomes: mailbox copies written, relay rows created, recipients relayed as is, bounces by reason',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    tlsReports: new prom.Counter({
      name: 'hopmail_routing_tls_reports_total',
      help: 'messages to the TLS-RPT report address, by result (stored, duplicate: stored before, not-ours, invalid: no report)',
      labelNames: ['result'],
      registers: [registry],
    }),
    jobSeconds: new prom.Histogram({
      name: 'hopmail_routing_job_seconds',
      help: 'time to route one message (resolution, transaction, relay enqueue)',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    reconcileRequeued: new prom.Counter({
      name: 'hopmail_routing_reconcile_requeued_total',
      help: 'jobs the reconciler had to add or retry because PostgreSQL said the work was unfinished',
      labelNames: ['queue', 'action'],
      registers: [registry],
    }),
    reconcileRuns: new prom.Counter({
      name: 'hopmail_routing_reconcile_runs_total',
      help: 'reconciler passes, by result (scanned, skipped: another replica held the lock, failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}

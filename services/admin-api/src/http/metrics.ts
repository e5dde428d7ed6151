import { prom } from '@hopmail/service-kit';

export interface HttpMetrics {
  observe(method: string, route: string, status: number, seconds: number): void;
}

/** Request counter and latency histogram, labelled by route pattern (never the raw URL). */
export function httpMetrics(registry: prom.Registry): HttpMetrics {
  const requests =
    (registry.getSingleMetric('hopmail_admin_http_requests_total') as prom.Counter<'method' | 'route' | 'status'> | undefined) ??
    new prom.Counter({
      name: 'hopmail_admin_http_requests_total',
      help: 'admin API requests by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric('hopmail_admin_http_request_duration_seconds') as prom.Histogram<'method' | 'route' | 'status'> | undefined) ??
    new prom.Histogram({
      name: 'hopmail_admin_http_request_duration_seconds',
      help: 'admin API request latency (Argon2id hashing dominates POST/PATCH of mailboxes)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  return {
    observe(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
}

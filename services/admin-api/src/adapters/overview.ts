// The console overview's figures, read from what is kept for them so that the cost does not
// grow with the number of messages: traffic per minute (traffic_minutes, kept by a trigger on
// message_events, migration 0014), queue depths sampled by the housekeeper (queue_samples),
// and the replicas' heartbeats in Redis (service-kit).
import type { Pool } from '@hopmail/db';

export interface TrafficMinute {
  minute: string;
  received: number;
  delivered: number;
  deferred: number;
  bounced: number;
}

export interface QueueSample {
  at: string;
  depths: Record<string, number>;
}

export class OverviewStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** One row per minute of the window, oldest first, zero-filled, the current (partial) minute last. */
  async traffic(windowMinutes: number): Promise<{ now: string; minutes: TrafficMinute[] }> {
    const r = await this.pool.query<{ minute: Date; received: string; delivered: string; deferred: string; bounced: string; now: Date }>(
      `SELECT g.minute, coalesce(sum(t.received), 0) AS received, coalesce(sum(t.delivered), 0) AS delivered,
              coalesce(sum(t.deferred), 0) AS deferred, coalesce(sum(t.bounced), 0) AS bounced, now() AS now
         FROM generate_series(date_trunc('minute', now()) - make_interval(mins => $1 - 1), date_trunc('minute', now()), interval '1 minute') AS g(minute)
         LEFT JOIN traffic_minutes t ON t.minute = g.minute
        GROUP BY g.minute ORDER BY g.minute`,
      [windowMinutes],
    );
    return {
      now: (r.rows[0]?.now ?? new Date()).toISOString(),
      minutes: r.rows.map((x) => ({ minute: x.minute.toISOString(), received: Number(x.received), delivered: Number(x.delivered), deferred: Number(x.deferred), bounced: Number(x.bounced) })),
    };
  }

  /** The queue samples of the window, oldest first. */
  async queueSamples(windowMinutes: number): Promise<QueueSample[]> {
    const r = await this.pool.query<{ at: Date; depths: Record<string, number> }>(
      `SELECT at, depths FROM queue_samples WHERE at > now() - make_interval(mins => $1) ORDER BY at`,
      [windowMinutes],
    );
    return r.rows.map((x) => ({ at: x.at.toISOString(), depths: x.depths }));
  }
}

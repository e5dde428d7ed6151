// Webhook delivery, apart from the mail path: mail services only append events in
// PostgreSQL; this reads the public event stream with a consumer group, writes one delivery
// row per subscribed webhook (idempotent), acknowledges, and POSTs due deliveries with a
// timeout and a bounded number in flight. A slow or failing endpoint costs only its own
// retries here, never a mail transaction.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEntry, streamKey, type PublicEvent } from '@hopmail/events';
import { createPeriodic, settleWithin, type Logger } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type { ClaimedDelivery, DeliveryStore } from '../adapters/deliveries.ts';
import { postWebhook } from '../adapters/webhook-post.ts';
import { HousekeeperError } from '../errors.ts';
import { EVENTS } from '../events.ts';
import { retryDelay, sign, SIGNATURE_HEADER } from '../policy/webhook.ts';

export const WEBHOOK_GROUP = 'webhooks';

export interface DispatcherDeps {
  deliveries: DeliveryStore;
  /** A connection of its own: XREADGROUP BLOCK holds it; stop() disconnects it. */
  redis: Redis;
  prefix: string;
  logger: Logger;
  pollMs: number;
  timeoutMs: number;
  concurrency: number;
  retry: { minMs: number; maxMs: number; maxAttempts: number };
  disableAfter: number;
  /** Allow loopback, private and other non-public destinations (@hopmail/events destination.ts). */
  allowPrivate: boolean;
}

type Entries = [string, string[]][];

export function createWebhookDispatcher(deps: DispatcherDeps) {
  const key = streamKey(deps.prefix);
  deps.redis.on('error', () => {}); // the reader logs its own failures
  const consumer = `${hostname()}:${process.pid}`;
  let stopped = false;
  let inFlight = 0;
  const running = new Set<Promise<unknown>>();
  let readLoop: Promise<void> | undefined;

  async function ensureGroup(): Promise<void> {
    try {
      // '$': a new group starts with events published from now on.
      await deps.redis.xgroup('CREATE', key, WEBHOOK_GROUP, '$', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test(String((err as Error).message))) throw err;
    }
  }

  async function handle(entries: Entries): Promise<void> {
    if (!entries.length) return;
    const events = entries.map(([, fields]) => parseEntry(fields)).filter((e): e is PublicEvent => e !== null);
    const created = await deps.deliveries.fanOut(events);
    await deps.redis.xack(key, WEBHOOK_GROUP, ...entries.map(([id]) => id));
    if (created > 0) pump();
  }

  async function read(): Promise<void> {
    // Redis may be away at start: keep trying, start-up does not wait for it.
    while (!stopped) {
      try {
        await ensureGroup();
        break;
      } catch (err) {
        deps.logger.warn({ event: EVENTS.streamReadFailed, err }, 'cannot create the consumer group yet; retrying');
        await sleep(Math.max(deps.pollMs, 1000));
      }
    }
    if (stopped) return;
    // Our own unacknowledged entries first (a previous run of this consumer); then new ones,
    // and every 30 s the entries another consumer left pending for over a minute (it died).
    const own = (await deps.redis.xreadgroup('GROUP', WEBHOOK_GROUP, consumer, 'COUNT', 500, 'STREAMS', key, '0')) as [string, Entries][] | null;
    await handle(own?.[0]?.[1] ?? []);
    let lastClaim = 0;
    while (!stopped) {
      try {
        if (Date.now() - lastClaim > 30_000) {
          lastClaim = Date.now();
          const claimed = (await deps.redis.xautoclaim(key, WEBHOOK_GROUP, consumer, 60_000, '0-0', 'COUNT', 500)) as [string, Entries];
          await handle(claimed?.[1] ?? []);
        }
        const r = (await deps.redis.xreadgroup('GROUP', WEBHOOK_GROUP, consumer, 'COUNT', 500, 'BLOCK', deps.pollMs, 'STREAMS', key, '>')) as [string, Entries][] | null;
        await handle(r?.[0]?.[1] ?? []);
      } catch (err) {
        if (stopped) return;
        if (/NOGROUP/.test(String((err as Error).message))) await ensureGroup().catch(() => {});
        deps.logger.warn({ event: EVENTS.streamReadFailed, err }, 'reading the event stream failed; retrying');
        await sleep(deps.pollMs);
      }
    }
  }

  async function send(delivery: ClaimedDelivery): Promise<void> {
    const body = JSON.stringify(delivery.payload);
    let status: number | null = null;
    let error = '';
    try {
      status = await postWebhook({
        url: delivery.url,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Hopmail-Webhooks/1',
          'hopmail-event-id': delivery.payload.id,
          'hopmail-event-type': delivery.payload.type,
          [SIGNATURE_HEADER]: sign(delivery.secret, body, Math.floor(Date.now() / 1000)),
        },
        body,
        timeoutMs: deps.timeoutMs,
        allowPrivate: deps.allowPrivate,
      });
      if (status >= 200 && status < 300) {
        await deps.deliveries.succeeded(delivery, status);
        return;
      }
      error = `HTTP ${status}`;
    } catch (err) {
      error = err instanceof HousekeeperError && err.kind === 'webhookTimeout' ? `timeout after ${deps.timeoutMs} ms` : String((err as Error).message ?? err);
    }
    const retryInMs = retryDelay(delivery.attempts, deps.retry);
    const disabled = await deps.deliveries.failed(delivery, { httpStatus: status, error, retryInMs, disableAfter: deps.disableAfter });
    deps.logger.warn({ event: EVENTS.webhookDeliveryFailed, webhookId: delivery.webhookId, eventId: delivery.payload.id, attempt: delivery.attempts, status, error, retryInMs }, 'webhook delivery failed');
    if (disabled) deps.logger.warn({ event: EVENTS.webhookDisabled, webhookId: delivery.webhookId }, 'webhook disabled after persistent failures');
  }

  /** Claims as many due deliveries as there are free slots and sends them. */
  function pump(): void {
    if (stopped) return;
    const free = deps.concurrency - inFlight;
    if (free <= 0) return;
    inFlight += free; // reserve the slots while claiming
    const p = deps.deliveries
      .claim(free, deps.timeoutMs * 2 + 1000)
      .then((claimed) => {
        inFlight -= free - claimed.length;
        for (const d of claimed) {
          const s = send(d)
            .catch((err) => deps.logger.error({ event: EVENTS.webhookSendError, err, webhookId: d.webhookId }, 'webhook delivery bookkeeping failed'))
            .finally(() => {
              inFlight--;
              running.delete(s);
              pump();
            });
          running.add(s);
        }
      })
      .catch((err) => {
        inFlight -= free;
        deps.logger.warn({ event: EVENTS.webhookClaimFailed, err }, 'could not claim webhook deliveries');
      })
      .finally(() => running.delete(p));
    running.add(p);
  }

  // Due retries are found by looking; new deliveries also pump at once (handle()).
  const retries = createPeriodic(async () => pump(), { intervalMs: deps.pollMs, firstDelayMs: 0 });

  return {
    start() {
      readLoop = read().catch((err) => deps.logger.error({ event: EVENTS.streamReaderStopped, err }, 'event stream reader stopped'));
      retries.start();
    },
    async stop() {
      stopped = true;
      await retries.stop();
      // Cut the blocking read (and anything queued while Redis is away); entries read but not
      // yet acknowledged are read again later, and fanning out twice is harmless.
      deps.redis.disconnect();
      // ioredis does not always reject a command queued while it was reconnecting: bound the wait.
      await settleWithin(readLoop, deps.pollMs + 1000);
      // In-flight POSTs end within timeoutMs.
      await Promise.allSettled([...running]);
    },
  };
}

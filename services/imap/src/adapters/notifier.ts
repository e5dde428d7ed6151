// Change notifications for IDLE and NOOP: triggers NOTIFY `hopmail_imap` with the mailbox id
// when a transaction that delivered, expunged, moved or re-flagged mail commits (migration
// 0018's on mailbox_messages inserts and deletes, 0032's on a folder's MODSEQ, which every flag
// change takes) — routing, pop3, the admin API or any imap replica. One LISTEN connection per process fans
// them out to the sessions watching that mailbox. After a lost connection every session is
// woken once (it re-reads its changes by MODSEQ, so nothing missed stays missed).
import pg from 'pg';
import type { Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';

export interface Watcher {
  /** `wake`: this notification's key (mailbox and generation), the same for every watcher it wakes. */
  changed(wake: string): void;
}

export class Notifier {
  private readonly url: string;
  private readonly logger: Logger;
  private readonly watchers = new Map<string, Set<Watcher>>();
  /** Notifications received (and reconnections): part of each wake key. */
  private generation = 0;
  private client: pg.Client | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(databaseUrl: string, logger: Logger) {
    this.url = databaseUrl;
    this.logger = logger;
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'hopmail-imap-notify', keepAlive: true, connectionTimeoutMillis: 5_000 });
    client.on('notification', (n) => {
      if (n.channel !== 'hopmail_imap' || !n.payload) return;
      const wake = `${n.payload}:${++this.generation}`;
      for (const w of this.watchers.get(n.payload) ?? []) w.changed(wake);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    await client.connect();
    await client.query('LISTEN hopmail_imap');
    this.client = client;
    this.logger.debug({ event: EVENTS.notifyListening }, 'listening for mailbox changes');
  }

  private lost(client: pg.Client, err: Error | null): void {
    if (this.client !== client || this.stopped) return;
    this.client = null;
    this.logger.warn({ event: EVENTS.notifyLost, err }, 'LISTEN connection lost; reconnecting');
    client.end().catch(() => {});
    const again = () => {
      this.retry = null;
      if (this.stopped) return;
      this.start().then(
        () => {
          const wake = `reconnect:${++this.generation}`;
          for (const set of this.watchers.values()) for (const w of set) w.changed(wake);
        },
        () => (this.retry = setTimeout(again, 1_000)),
      );
    };
    this.retry = setTimeout(again, 200);
  }

  watch(mailboxId: string, w: Watcher): () => void {
    let set = this.watchers.get(mailboxId);
    if (!set) this.watchers.set(mailboxId, (set = new Set()));
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0) this.watchers.delete(mailboxId);
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }
}

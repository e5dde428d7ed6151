// Refused and greylisted RCPTs (and DATA refusals, one row per recipient) in PostgreSQL
// (smtp_refusals, migration 0020) for admin-api's GET /v1/messages/refusals: the trace of
// mail that never became a message. Off the reply's path: rows are batched (one INSERT for
// whatever arrived meanwhile), never waited for; a failure is logged and the row is lost (the
// refusal itself is still in the log and the metrics).

import { createBatcher, type Pool } from '@hopmail/db';

export interface RefusalRecord {
  sessionId: string;
  clientIp: string;
  helo: string | null;
  sender: string;
  recipient: string;
  stage: string;
  reason: string;
  /** The reply line the client got (code, enhanced code, text). */
  reply: string;
}

export interface RefusalLog {
  record(r: RefusalRecord): void;
}

const COLS = 8;
const insert = (rows: readonly RefusalRecord[]) => {
  const values = rows.map((_, i) => `(${Array.from({ length: COLS }, (_x, j) => `$${i * COLS + j + 1}`).join(', ')})`).join(', ');
  const params = rows.flatMap((r) => [r.sessionId, r.clientIp, r.helo, r.sender, r.recipient.slice(0, 512), r.stage, r.reason, r.reply.slice(0, 1024)]);
  return { text: `INSERT INTO smtp_refusals (session_id, client_ip, helo, sender, recipient, stage, reason, reply) VALUES ${values}`, params };
};

export function createRefusalLog(deps: { pool: Pool; onError(err: unknown): void }): RefusalLog {
  const write = async (rows: readonly RefusalRecord[]) => {
    const q = insert(rows);
    await deps.pool.query(q.text, q.params);
    return rows.map(() => undefined);
  };
  const batch = createBatcher<RefusalRecord, undefined>(write, async (r) => (await write([r]))[0], { maxInFlight: 2, maxBatch: 200 });
  return {
    record(r) {
      batch(r).catch(deps.onError);
    },
  };
}

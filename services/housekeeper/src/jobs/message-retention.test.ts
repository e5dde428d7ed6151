// Message retention in the retention pass, against real PostgreSQL: which messages expire
// and which stay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { startTestHousekeeper, type TestHousekeeper } from '../../test/support.ts';
import { deleteFinishedMessages } from './retention.ts';

let hk: TestHousekeeper;
let mailbox: number;

beforeAll(async () => {
  hk = await startTestHousekeeper({ env: { MESSAGE_RETENTION_DAYS: '7' } });
  const d = await hk.db.pool.query<{ id: number }>(`INSERT INTO domains (name) VALUES ('retention.test') RETURNING id`);
  const mb = await hk.db.pool.query<{ id: number }>(
    `INSERT INTO mailboxes (domain_id, local_part, address, password_hash) VALUES ($1, 'alice', 'alice@retention.test', 'x') RETURNING id`,
    [d.rows[0]!.id],
  );
  mailbox = mb.rows[0]!.id;
});
afterAll(async () => {
  await hk?.close();
});

/** A message received `ageDays` ago whose recipients have `status` (and a DSN sent if asked). */
async function message(ageDays: number, status: string, opts: { inMailbox?: boolean; dsnSent?: boolean; recipients?: string[] } = {}): Promise<string> {
  const id = newMessageId();
  const pool = hk.db.pool;
  await insertMessage(pool, { id, raw: Buffer.from('Subject: r\r\n\r\nx\r\n'), mailFrom: 's@sender.test', recipients: opts.recipients ?? ['alice@retention.test'] });
  await pool.query(`UPDATE messages SET received_at = now() - make_interval(days => $2) WHERE id = $1`, [id, ageDays]);
  await pool.query(`UPDATE recipients SET status = $2, dsn_sent_at = CASE WHEN $3 THEN now() END WHERE message_id = $1`, [id, status, opts.dsnSent ?? false]);
  if (opts.inMailbox) {
    await pool.query(
      `INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size) SELECT $1, $2::uuid, id, $2::text, 10 FROM recipients WHERE message_id = $2::uuid`,
      [mailbox, id],
    );
  }
  return id;
}

const exists = async (id: string) => (await hk.db.pool.query('SELECT 1 FROM messages WHERE id = $1', [id])).rowCount === 1;

describe('message retention', () => {
  it('deletes finished messages past MESSAGE_RETENTION_DAYS that no mailbox holds, with their recipients; keeps everything else', async () => {
    const gone = {
      delivered: await message(8, 'delivered'),
      failed: await message(8, 'failed'),
      bouncedDsnSent: await message(8, 'bounced', { dsnSent: true }),
      expanded: await message(8, 'expanded'),
    };
    const kept = {
      inMailbox: await message(8, 'delivered', { inMailbox: true }),
      bouncedNoDsn: await message(8, 'bounced'),
      queued: await message(8, 'queued'),
      relay: await message(8, 'relay'),
      deferred: await message(8, 'deferred'),
      held: await message(8, 'held'),
      young: await message(6, 'delivered'),
    };
    // One recipient delivered, one still deferred: the message is not finished.
    const mixed = await message(8, 'delivered', { recipients: ['alice@retention.test', 'x@far.test'] });
    await hk.db.pool.query(`UPDATE recipients SET status = 'deferred' WHERE message_id = $1 AND address = 'x@far.test'`, [mixed]);

    expect(await hk.app.prune()).toMatchObject({ messages: 4 });
    for (const [name, id] of Object.entries(gone)) expect(await exists(id), name).toBe(false);
    for (const [name, id] of Object.entries(kept)) expect(await exists(id), name).toBe(true);
    expect(await exists(mixed)).toBe(true);
    const orphans = await hk.db.pool.query('SELECT count(*)::int AS n FROM recipients WHERE message_id = ANY($1::uuid[])', [Object.values(gone)]);
    expect(orphans.rows[0].n).toBe(0);

    // POP3 deletes the copy: the message expires at the next pass.
    await hk.db.pool.query('DELETE FROM mailbox_messages WHERE message_id = $1', [kept.inMailbox]);
    expect(await hk.app.prune()).toMatchObject({ messages: 1 });
    expect(await exists(kept.inMailbox)).toBe(false);
  });

  it('deletes in batches of the given size, oldest first', async () => {
    const ids = [];
    for (let age = 30; age > 23; age--) ids.push(await message(age, 'delivered'));
    expect(await deleteFinishedMessages(hk.db.pool, 7, 2)).toBe(2);
    expect(await exists(ids[0]!)).toBe(false);
    expect(await exists(ids[1]!)).toBe(false);
    expect(await exists(ids[2]!)).toBe(true);
    expect(await deleteFinishedMessages(hk.db.pool, 7, 100)).toBe(5);
  });
});

describe('MESSAGE_RETENTION_DAYS=0', () => {
  it('keeps every message', async () => {
    const keep = await startTestHousekeeper({ env: { MESSAGE_RETENTION_DAYS: '0' } });
    try {
      const id = newMessageId();
      await insertMessage(keep.db.pool, { id, raw: Buffer.from('x\r\n'), mailFrom: '', recipients: ['a@far.test'] });
      await keep.db.pool.query(`UPDATE messages SET received_at = now() - interval '3000 days' WHERE id = $1`, [id]);
      await keep.db.pool.query(`UPDATE recipients SET status = 'failed' WHERE message_id = $1`, [id]);
      expect(await keep.app.prune()).toMatchObject({ messages: 0 });
      expect((await keep.db.pool.query('SELECT 1 FROM messages WHERE id = $1', [id])).rowCount).toBe(1);
    } finally {
      await keep.close();
    }
  });
});

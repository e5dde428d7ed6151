// Where a delivered copy goes (\Junk or INBOX) is decided from the message's header when
// smtp-ingress did not decide it (messages.junk NULL: a DSN, a report): from the first 64 KiB of
// the stored message, not the whole of it (migration 0030), and from nothing stored at all when
// smtp-ingress did decide.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { insertMessage } from './messages.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** The decision for one stored message, and the shared buffers read to take it. */
async function decide(id: string): Promise<{ junk: boolean; buffers: number }> {
  const plan = await db.pool.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, FORMAT TEXT) SELECT hopmail_delivery_junk(junk, spam, raw) FROM messages WHERE id = $1`,
    [id],
  );
  const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
  // The executor's line (the first Buffers:), not the planner's.
  const buffers = /Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?/.exec(text)!;
  const junk = (await db.pool.query<{ j: boolean }>('SELECT hopmail_delivery_junk(junk, spam, raw) AS j FROM messages WHERE id = $1', [id])).rows[0]!.j;
  return { junk, buffers: Number(buffers[1] ?? 0) + Number(buffers[2] ?? 0) };
}

async function store(header: string, junk?: boolean): Promise<string> {
  const id = newMessageId();
  // 4 MiB of body: read whole, that is some 2,000 TOAST chunks.
  const raw = Buffer.concat([Buffer.from(`${header}Subject: big\r\n\r\n`), Buffer.alloc(4 * 1024 * 1024, 'body line\r\n')]);
  await insertMessage(db.pool, { id, raw, mailFrom: 'a@b.test', recipients: ['u@junk.test'], ...(junk === undefined ? {} : { junk }) });
  return id;
}

describe('hopmail_delivery_junk', () => {
  it('without a decision: X-Spam-Flag: YES from the header, reading the start of the message only', async () => {
    const flagged = await decide(await store('X-Spam-Flag: YES\r\n'));
    const clean = await decide(await store(''));
    expect(flagged.junk).toBe(true);
    expect(clean.junk).toBeFalsy(); // NULL (no spam verdict either): not \Junk
    // 64 KiB is about 35 chunks; the whole message would be over 2,000.
    expect(flagged.buffers).toBeLessThan(100);
    expect(clean.buffers).toBeLessThan(100);
  });

  it("with smtp-ingress's decision: that, and the stored message is not read", async () => {
    const decided = await decide(await store('X-Spam-Flag: YES\r\n', false));
    expect(decided.junk).toBe(false);
    expect(decided.buffers).toBeLessThan(10);
  });
});

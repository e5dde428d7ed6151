import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createProducer } from '@hopmail/queue';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, startFakeMx, startPlainMx, waitFor, type FakeDns, type FakeMx, type MxTransaction, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { commitMessage, dsnsFor as dsnsOf, message as MSG, recipientsOf, type CommitOptions, type Rcpt } from '../test/mail.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

const MX1 = '127.0.0.21';
const MX2 = '127.0.0.22';
const MX421 = '127.0.0.23';
const GREY = '127.0.0.24';
const PLAIN = '127.0.0.25';
const CHUNK = '127.0.0.26'; // a raw-socket MX offering CHUNKING (RFC 3030)
const DEAD = '127.0.0.29'; // nothing listens here: connection refused
const SOA = { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 };

let db: TestDatabase;
let redis: Redis;
let dns: FakeDns;
let mx: FakeMx;
let plain: { stop(): Promise<void> };
let chunkMx: Server;
/** What the CHUNKING MX read: each command line, and each BDAT chunk's octets. */
const chunkWire: { lines: string[]; chunks: Buffer[] } = { lines: [], chunks: [] };

/** Just enough SMTP to see the wire: EHLO offers PIPELINING, CHUNKING and BINARYMIME (no 8BITMIME, no STARTTLS). */
function startChunkingMx(ip: string, port: number): Promise<Server> {
  const server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    let need = 0;
    sock.write('220 chunk.test ESMTP\r\n');
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (need > 0) {
          if (buf.length < need) return;
          chunkWire.chunks.push(buf.subarray(0, need));
          buf = buf.subarray(need);
          need = 0;
          sock.write('250 2.0.0 chunk queued\r\n');
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.subarray(0, i).toString('latin1');
        buf = buf.subarray(i + 2);
        chunkWire.lines.push(line);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') sock.write('250-chunk.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 BINARYMIME\r\n');
        else if (verb === 'BDAT') need = Number(line.split(' ')[1]);
        else if (verb === 'QUIT') sock.end('221 2.0.0 bye\r\n');
        else sock.write('250 2.0.0 ok\r\n');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(port, ip, () => resolve(server)));
}
const plainTx: MxTransaction[] = [];
let relay: TestRelay;
let prefix: string;
let routeQueue: ReturnType<typeof createProducer<'route-message'>>;
let relayProducer: ReturnType<typeof createProducer<'deliver-remote'>>;

beforeAll(async () => {
  db = await createTestDatabase();
  prefix = redisPrefix();
  redis = queueRedis(baseUrls().redisUrl);
  mx = await startFakeMx([MX1, MX2, MX421, GREY]);
  mx.behave(MX421, { greeting: 421 });
  mx.behave(GREY, { greylist: true });
  plain = await startPlainMx(PLAIN, mx.port, plainTx);
  chunkMx = await startChunkingMx(CHUNK, mx.port);
  const mxRec = (name: string, preference: number, exchange: string) => ({ name, type: 'MX' as const, data: { preference, exchange } });
  dns = await startFakeDns({
    host: '127.0.0.53',
    records: [
      { name: 'test', type: 'SOA', data: SOA },
      { name: 'mx1.test', type: 'A', data: MX1 },
      { name: 'mx2.test', type: 'A', data: MX2 },
      { name: 'mx421.test', type: 'A', data: MX421 },
      { name: 'dead.test', type: 'A', data: DEAD },
      { name: 'grey-mx.test', type: 'A', data: GREY },
      { name: 'plain-mx.test', type: 'A', data: PLAIN },
      { name: 'chunk-mx.test', type: 'A', data: CHUNK },
      mxRec('chunk.test', 10, 'chunk-mx.test'),
      { name: 'relay.hopmail.test', type: 'A', data: MX1 },
      mxRec('best.test', 20, 'mx2.test'),
      mxRec('best.test', 10, 'mx1.test'),
      mxRec('failover.test', 10, 'dead.test'),
      mxRec('failover.test', 20, 'mx421.test'),
      mxRec('failover.test', 30, 'mx1.test'),
      mxRec('grey.test', 10, 'grey-mx.test'),
      mxRec('plain.test', 10, 'plain-mx.test'),
      mxRec('nullmx.test', 0, '.'),
      mxRec('loop.test', 10, 'relay.hopmail.test'),
      { name: 'implicit.test', type: 'A', data: MX2 },
      mxRec('servfail.test', 10, 'mx1.test'),
    ],
    behaviour: { servfail: ['servfail.test'] },
  });
  relay = await startRelay({ db, prefix, redis, mx, dns, env: {
    DNS_TIMEOUT_MS: '500',
    DNS_TRIES: '1',
    RELAY_ALLOW_LOOPBACK_MX: 'true',
    RELAY_RETRY_SCHEDULE: '150,150',
    RELAY_SCHEDULER_INTERVAL_MS: '50',
    RELAY_CONNECT_TIMEOUT_MS: '2000',
    RELAY_GREETING_TIMEOUT_MS: '2000',
    RELAY_SOCKET_TIMEOUT_MS: '5000',
    RELAY_DELAY_WARNING_MS: String(4 * 3600_000),
    RELAY_POOL_IDLE_MS: '10000',
  } });
  routeQueue = createProducer('route-message', redis, prefix);
  relayProducer = createProducer('deliver-remote', redis, prefix);
});

afterAll(async () => {
  await relay?.stop();
  await routeQueue?.close();
  await relayProducer?.close();
  await mx?.stop();
  await plain?.stop();
  await new Promise((r) => chunkMx?.close(r));
  await dns?.stop();
  await redis?.quit();
  await db?.drop();
});

afterEach(async () => {
  // Stop retry churn of whatever a test left deferred.
  await db.pool.query(`UPDATE recipients SET status = 'failed' WHERE status IN ('relay', 'deferred')`);
});

/** Commits a message the way smtp-ingress does and marks it for relay the way routing does. */
async function submit(rcpts: string[], opts: CommitOptions = {}): Promise<string> {
  const id = await commitMessage(db, rcpts, opts);
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
  for (const d of new Set(rcpts.map((r) => r.split('@')[1]!.toLowerCase()))) await relayProducer.add({ messageId: id, domain: d });
  return id;
}

const rcpts = (id: string) => recipientsOf(db, id);
const dsnsFor = (id: string) => dsnsOf(db, id);

async function settled(id: string, want: Record<string, string>): Promise<Record<string, Rcpt>> {
  return waitFor(
    async () => {
      const r = await rcpts(id);
      return Object.entries(want).every(([a, s]) => r[a]?.status === s) ? r : undefined;
    },
    { timeoutMs: 10_000, what: `recipients of ${id} to be ${JSON.stringify(want)}` },
  );
}

const txFor = (id: string) => [...mx.transactions, ...plainTx].filter((t) => t.data.toString().includes(id));

describe('outbound-relay deliver-remote', () => {
  it('delivers to the best MX over STARTTLS in one transaction and records the attempt', async () => {
    const id = await submit(['bob@best.test', 'carol@best.test']);
    const r = await settled(id, { 'bob@best.test': 'delivered', 'carol@best.test': 'delivered' });
    expect(r['bob@best.test']!.last_mx).toBe('mx1.test');
    const tx = txFor(id);
    expect(tx).toHaveLength(1);
    expect(tx[0]!.ip).toBe(MX1);
    expect(tx[0]!.secure).toBe(true);
    expect(tx[0]!.from).toBe('alice@local.test');
    expect(tx[0]!.to.sort()).toEqual(['bob@best.test', 'carol@best.test']);
    const a = await db.pool.query(`SELECT mx_host, ip, tls, outcome, remote_reply FROM relay_attempts WHERE message_id = $1`, [id]);
    expect(a.rows).toEqual([{ mx_host: 'mx1.test', ip: MX1, tls: true, outcome: 'delivered', remote_reply: expect.stringMatching(/^250 /) }]);
  });

  it('sends with BDAT when the MX offers CHUNKING (RFC 3030): one "BDAT <n> LAST" chunk, the exact bytes, no dot-stuffing', async () => {
    const body = 'Hello.\r\n.x line\r\n..two dots\r\n.\r\nafter a lone dot\r\n';
    const id = await submit(['dan@chunk.test'], { raw: MSG('chunked', body) });
    const r = await settled(id, { 'dan@chunk.test': 'delivered' });
    expect(r['dan@chunk.test']!.last_mx).toBe('chunk-mx.test');
    const a = await db.pool.query(`SELECT outcome, remote_reply FROM relay_attempts WHERE message_id = $1`, [id]);
    expect(a.rows).toEqual([{ outcome: 'delivered', remote_reply: '250 2.0.0 chunk queued' }]);
    const bdat = chunkWire.lines.filter((l) => /^BDAT /.test(l));
    expect(bdat).toHaveLength(1);
    expect(chunkWire.lines).not.toContain('DATA');
    const sent = chunkWire.chunks[0]!;
    expect(bdat[0]).toBe(`BDAT ${sent.length} LAST`);
    const text = sent.toString('latin1');
    expect(text).toContain('Subject: chunked\r\n');
    // The body as committed, after the DKIM/ARC fields and the headers the relay keeps.
    expect(text.endsWith(`\r\n\r\n${body}`)).toBe(true);
  });

  it('relays a BINARYMIME message as it came (RFC 3030 §3): BODY=BINARYMIME, one BDAT, the exact octets; a hop without CHUNKING/BINARYMIME bounces it 5.6.3', async () => {
    // Octets no line-based path keeps: NUL, a bare LF, a bare CR, 8-bit bytes, a 2,000-octet line, no final CRLF.
    const body = Buffer.concat([Buffer.from('bin\0ary\nbare LF\rbare CR \xff\xfe\r\n', 'latin1'), Buffer.alloc(2000, 0x41), Buffer.from('\r\nend', 'latin1')]);
    const raw = Buffer.concat([MSG('binary', ''), body]);
    const id = await submit(['bin@chunk.test'], { raw, bodyBinary: true });
    await settled(id, { 'bin@chunk.test': 'delivered' });
    const mail = chunkWire.lines.filter((l) => /^MAIL FROM:/i.test(l)).at(-1)!;
    expect(mail).toMatch(/ BODY=BINARYMIME$/);
    const sent = chunkWire.chunks.at(-1)!;
    expect(chunkWire.lines.filter((l) => /^BDAT /.test(l)).at(-1)).toBe(`BDAT ${sent.length} LAST`);
    expect(sent.subarray(sent.length - body.length).equals(body)).toBe(true);
    // plain.test offers neither CHUNKING nor BINARYMIME: refused before anything is sent.
    const refused = await submit(['bin@plain.test'], { raw, bodyBinary: true });
    expect((await settled(refused, { 'bin@plain.test': 'bounced' }))['bin@plain.test']!.last_reply).toMatch(/^554 5\.6\.3 .*BINARYMIME/);
    expect(plainTx.filter((t) => t.to.includes('bin@plain.test'))).toHaveLength(0);
  });

  it('fails over when the first MX refuses connections and the second greets 421', async () => {
    const id = await submit(['bob@failover.test']);
    await settled(id, { 'bob@failover.test': 'delivered' });
    expect(txFor(id).map((t) => t.ip)).toEqual([MX1]);
    const a = await db.pool.query(`SELECT mx_host, outcome, remote_reply FROM relay_attempts WHERE message_id = $1 ORDER BY id`, [id]);
    expect(a.rows.map((x) => [x.mx_host, x.outcome])).toEqual([
      ['dead.test', 'failover'],
      ['mx421.test', 'failover'],
      ['mx1.test', 'delivered'],
    ]);
    expect(a.rows[1].remote_reply).toMatch(/^421/);
  });

  it('keeps per-recipient outcomes (250, 450, 550) of one transaction; exactly one DSN for the bounce', async () => {
    mx.behave(MX1, { rcpt: { 'busy@best.test': 450, 'gone@best.test': 550 } });
    try {
      const id = await submit(['ok@best.test', 'busy@best.test', 'gone@best.test']);
      const r = await settled(id, { 'ok@best.test': 'delivered', 'busy@best.test': 'deferred', 'gone@best.test': 'bounced' });
      expect(r['busy@best.test']!.last_reply).toMatch(/^450 /);
      expect(r['gone@best.test']!.last_reply).toMatch(/^550 /);
      const tx = txFor(id);
      expect(tx).toHaveLength(1);
      expect(tx[0]!.to).toEqual(['ok@best.test']);
      const a = await db.pool.query(`SELECT outcome FROM relay_attempts WHERE message_id = $1 ORDER BY id LIMIT 1`, [id]);
      expect(a.rows[0].outcome).toBe('mixed');
      const dsns = await waitFor(async () => ((await dsnsFor(id)).length ? dsnsFor(id) : undefined));
      expect(dsns).toHaveLength(1);
      expect(dsns[0]!.to).toBe('alice@local.test');
      expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; gone@best.test');
      expect(dsns[0]!.raw).toContain('Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx1.test');
      expect(dsns[0]!.raw).not.toContain('busy@best.test\r\nAction');
      expect(dsns[0]!.raw).toContain(`Subject: ${id}`); // original headers attached
      // delivered like any other mail: a route-message job for the DSN
      await waitFor(() => routeQueue.queue.getJob(dsns[0]!.id), { what: 'route-message job of the DSN' }); // added right after the DSN commit
      expect((await rcpts(id))['gone@best.test']!.dsn_sent_at).not.toBeNull();
    } finally {
      mx.behave(MX1, {});
    }
  });

  it('5xx after DATA bounces every recipient of the transaction with one DSN', async () => {
    mx.behave(MX2, { dataCode: 554 });
    try {
      const id = await submit(['a@implicit.test', 'b@implicit.test']); // implicit MX → MX2
      await settled(id, { 'a@implicit.test': 'bounced', 'b@implicit.test': 'bounced' });
      const dsns = await waitFor(async () => ((await dsnsFor(id)).length ? dsnsFor(id) : undefined));
      expect(dsns).toHaveLength(1);
      expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; a@implicit.test');
      expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; b@implicit.test');
    } finally {
      mx.behave(MX2, {});
    }
  });

  it('4xx after DATA defers every recipient', async () => {
    mx.behave(MX2, { dataCode: 452 });
    try {
      const id = await submit(['a@implicit.test']);
      const r = await settled(id, { 'a@implicit.test': 'deferred' });
      expect(r['a@implicit.test']!.last_reply).toMatch(/^452 /);
    } finally {
      mx.behave(MX2, {});
    }
  });

  it('greylisting: 451 first, delivered on the scheduled retry', async () => {
    const id = await submit(['bob@grey.test']);
    const r = await settled(id, { 'bob@grey.test': 'delivered' });
    expect(r['bob@grey.test']!.attempts).toBe(2);
    expect(txFor(id)).toHaveLength(1);
    const a = await db.pool.query(`SELECT outcome, remote_reply FROM relay_attempts WHERE message_id = $1 ORDER BY id`, [id]);
    expect(a.rows.map((x) => x.outcome)).toEqual(['deferred', 'delivered']);
    expect(a.rows[0].remote_reply).toMatch(/^451 /);
  });

  it('sends the delay warning once after the warning time and bounces on expiry', async () => {
    mx.behave(MX2, { rcpt: { 'slow@implicit.test': 451 } });
    try {
      // Arrived 5 hours ago: past the 4 h warning time, within the 5 day lifetime.
      const id = await submit(['slow@implicit.test'], { receivedAgoMs: 5 * 3600_000 });
      await waitFor(async () => (await rcpts(id))['slow@implicit.test']!.attempts >= 3, { what: 'three attempts' });
      // Written by the send-dsn job that finish() added after the first of them.
      const warned = await waitFor(async () => ((await dsnsFor(id)).length ? dsnsFor(id) : undefined), { what: 'the delay warning' });
      expect(warned).toHaveLength(1);
      expect(warned[0]!.raw).toContain('Action: delayed');
      expect(warned[0]!.raw).toContain('Will-Retry-Until: ');
      // Now let it be older than the lifetime.
      await db.pool.query(`UPDATE messages SET received_at = now() - interval '6 days' WHERE id = $1`, [id]);
      const r = await settled(id, { 'slow@implicit.test': 'bounced' });
      expect(r['slow@implicit.test']!.last_reply).toMatch(/^451 4\.4\.7 Delivery time expired .*last: 451 /);
      const all = await waitFor(async () => ((await dsnsFor(id)).length === 2 ? dsnsFor(id) : undefined));
      // RFC 3464 §2.3.4: a failed recipient carries a 5.x.x status; expiry is 5.4.7, the reply's detail under the action's class.
      expect(all[1]!.raw).toContain('Action: failed\r\nStatus: 5.4.7');
      expect(all[0]!.raw).toContain('Action: delayed\r\nStatus: 4.');
    } finally {
      mx.behave(MX2, {});
    }
  });

  it('wire bytes: leading dots, bare LF in the stored message and long lines arrive exactly, in one transaction', async () => {
    const id = newMessageId();
    const long = 'x'.repeat(990);
    const stored = Buffer.from(`From: alice@local.test\nSubject: ${id}\n\n.leading dot\n..two dots\n.\nmiddle\r\nbare\rcr\n${long}\nend`);
    await insertMessage(db.pool, { id, raw: stored, mailFrom: 'alice@local.test', recipients: ['bytes@best.test'] });
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
    await settled(id, { 'bytes@best.test': 'delivered' });
    const tx = txFor(id);
    expect(tx).toHaveLength(1);
    // smtp-server removes the dot-stuffing; what remains must be the canonical CRLF message.
    expect(tx[0]!.data.toString()).toBe(`From: alice@local.test\r\nSubject: ${id}\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nmiddle\r\nbare\r\ncr\r\n${long}\r\nend\r\n`);
  });

  it('a line over 998 octets leaves folded (RFC 5321 §4.5.3.1.6): every line the remote server gets fits, nothing is lost', async () => {
    const id = newMessageId();
    const words = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
    const blob = 'z'.repeat(2500);
    await insertMessage(db.pool, { id, raw: Buffer.from(`From: alice@local.test\r\nSubject: ${id} ${words}\r\n\r\n${blob}\r\nend\r\n`), mailFrom: 'alice@local.test', recipients: ['long@best.test'] });
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
    await settled(id, { 'long@best.test': 'delivered' });
    const got = txFor(id)[0]!.data.toString();
    expect(Math.max(...got.split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(998);
    const [head, body] = got.split('\r\n\r\n') as [string, string];
    expect(head.replace(/\r\n(?=[ \t])/g, '')).toContain(`Subject: ${id} ${words}`);
    expect(body.split('\r\n').slice(0, -2).map((l, i) => (i === 0 ? l : l.slice(1))).join('')).toBe(blob);
  });

  it('Null MX bounces 5.1.10, NXDOMAIN bounces 5.1.2, SERVFAIL defers, an MX naming ourselves bounces 5.4.6', async () => {
    const nul = await submit(['x@nullmx.test']);
    const nx = await submit(['x@nx.test']);
    const sf = await submit(['x@servfail.test']);
    const loop = await submit(['x@loop.test']);
    expect((await settled(nul, { 'x@nullmx.test': 'bounced' }))['x@nullmx.test']!.last_reply).toMatch(/^556 5\.1\.10 /);
    expect((await settled(nx, { 'x@nx.test': 'bounced' }))['x@nx.test']!.last_reply).toMatch(/^550 5\.1\.2 /);
    expect((await settled(sf, { 'x@servfail.test': 'deferred' }))['x@servfail.test']!.last_reply).toMatch(/^451 4\.4\.3 /);
    expect((await settled(loop, { 'x@loop.test': 'bounced' }))['x@loop.test']!.last_reply).toMatch(/^554 5\.4\.6 /);
    expect(txFor(loop)).toHaveLength(0);
    const d = await waitFor(async () => ((await dsnsFor(nul)).length ? dsnsFor(nul) : undefined));
    expect(d[0]!.raw).toContain('Status: 5.1.10');
  });

  it('no 8-bit to a server without 8BITMIME (5.6.3), no SMTPUTF8 mail to one without SMTPUTF8 (5.6.7); 7-bit goes through', async () => {
    const eight = await submit(['x@plain.test'], { body8bit: true, raw: MSG('8bit', 'Grüße\r\n') });
    const utf8 = await submit(['y@plain.test'], { smtputf8: true });
    const seven = await submit(['z@plain.test']);
    expect((await settled(eight, { 'x@plain.test': 'bounced' }))['x@plain.test']!.last_reply).toMatch(/^554 5\.6\.3 /);
    expect((await settled(utf8, { 'y@plain.test': 'bounced' }))['y@plain.test']!.last_reply).toMatch(/^554 5\.6\.7 /);
    await settled(seven, { 'z@plain.test': 'delivered' });
    expect(plainTx.filter((t) => t.to.includes('x@plain.test'))).toHaveLength(0);
  });

  it('a message larger than the server\'s SIZE bounces 5.3.4 without being sent', async () => {
    const id = await submit(['big@plain.test'], { raw: MSG('big', 'z'.repeat(76) + '\r\n'.repeat(1) + ('y'.repeat(76) + '\r\n').repeat(1000)) });
    expect((await settled(id, { 'big@plain.test': 'bounced' }))['big@plain.test']!.last_reply).toMatch(/^552 5\.3\.4 /);
    expect(plainTx.filter((t) => t.to.includes('big@plain.test'))).toHaveLength(0);
  });

  it('8-bit message to an 8BITMIME server is sent with BODY=8BITMIME', async () => {
    const id = await submit(['eight@best.test'], { body8bit: true, raw: MSG('eight', 'Grüße\r\n') });
    await settled(id, { 'eight@best.test': 'delivered' });
    expect(mx.transactions.filter((t) => t.to.includes('eight@best.test'))[0]!.params).toMatchObject({ BODY: '8BITMIME' });
  });

  it('SMTPUTF8 message to an SMTPUTF8 server carries the keyword; a DSN goes out with MAIL FROM:<>', async () => {
    const id = await submit(['utf@best.test'], { smtputf8: true, body8bit: true, raw: MSG('utf', 'ok\r\n') });
    await settled(id, { 'utf@best.test': 'delivered' });
    expect(mx.transactions.filter((t) => t.to.includes('utf@best.test'))[0]!.params).toMatchObject({ SMTPUTF8: true, BODY: '8BITMIME' });
    const bounce = await submit(['sender@best.test'], { from: '' });
    await settled(bounce, { 'sender@best.test': 'delivered' });
    expect(mx.transactions.filter((t) => t.to.includes('sender@best.test'))[0]!.from).toBe('');
  });

  it('never bounces a bounce: null-sender failures are marked failed, no DSN', async () => {
    const id = await submit(['x@nx.test'], { from: '' });
    const r = await settled(id, { 'x@nx.test': 'failed' });
    expect(r['x@nx.test']!.dsn_sent_at).toBeNull();
    expect(await dsnsFor(id)).toHaveLength(0);
  });

  it('the DSN sweeper reports recipients that routing bounced', async () => {
    const id = newMessageId();
    await insertMessage(db.pool, { id, raw: MSG(id), mailFrom: 'alice@local.test', recipients: ['nobody@local.test'] });
    await db.pool.query(`UPDATE recipients SET status = 'bounced', last_reply = '550 5.1.1 <nobody@local.test>: mailbox unavailable' WHERE message_id = $1`, [id]);
    const d = await waitFor(async () => ((await dsnsFor(id)).length ? dsnsFor(id) : undefined));
    expect(d).toHaveLength(1);
    expect(d[0]!.raw).toContain('Status: 5.1.1');
    await new Promise((r) => setTimeout(r, 200));
    expect(await dsnsFor(id)).toHaveLength(1);
  });

  it('reuses one connection for consecutive messages to the same MX', async () => {
    const before = mx.connections[MX2] ?? 0;
    const a = await submit(['r1@implicit.test']);
    await settled(a, { 'r1@implicit.test': 'delivered' });
    const b = await submit(['r2@implicit.test']);
    await settled(b, { 'r2@implicit.test': 'delivered' });
    expect((mx.connections[MX2] ?? 0) - before).toBeLessThanOrEqual(1);
  });

  it('exposes attempts and latency metrics', async () => {
    const text = await relay.app.metrics.attempts.get();
    expect(text.values.some((v) => v.labels.outcome === 'delivered' && v.value > 0)).toBe(true);
  });
});

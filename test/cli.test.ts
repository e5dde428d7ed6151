// The `hopmail` binary as its own process against a running admin-api (real HTTP, PG, Redis).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApi, TOKEN, type TestApi } from '../services/admin-api/test/support.ts';
import { parseAge, parseArgs } from '../packages/cli/src/args.ts';

const BIN = fileURLToPath(new URL('../packages/cli/bin/hopmail.js', import.meta.url));
let api: TestApi;

function hopmail(args: string[], o: { token?: string; stdin?: string; url?: string } = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOPMAIL_API_URL: o.url ?? api.base, ...(o.token === '' ? {} : { HOPMAIL_API_TOKEN: o.token ?? TOKEN }) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    p.stdin.end(o.stdin ?? '');
  });
}

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

test('argument parsing', () => {
  expect(parseArgs(['queue', 'list', '--status', 'deferred', '--domain=a.example', '--all', '--', '--x'])).toEqual({
    words: ['queue', 'list', '--x'],
    flags: new Map([['status', ['deferred']], ['domain', ['a.example']], ['all', ['true']]]),
  });
  expect(parseAge('90')).toBe(90);
  expect(parseAge('2h')).toBe(7200);
  expect(() => parseAge('2 weeks')).toThrow(/bad age/);
});

describe('hopmail', () => {
  test('domains, mailboxes and aliases: human tables and --json', { timeout: 60_000 }, async () => {
    expect(await hopmail(['domains', 'add', 'cli.example'])).toMatchObject({ code: 0, out: 'domain cli.example created (local)\n' });
    const mb = await hopmail(['mailboxes', 'add', 'ann@cli.example', '--password-stdin', '--quota', '1000'], { stdin: 'a-long-password\n' });
    expect(mb).toMatchObject({ code: 0, out: 'mailbox ann@cli.example created\n' });
    expect((await hopmail(['aliases', 'add', 'info@cli.example', 'ann@cli.example', 'ext@other.example'])).code).toBe(0);
    const table = await hopmail(['mailboxes', 'list', '--domain', 'cli.example']);
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^ADDRESS\s+QUOTABYTES\s+CREATEDAT$/);
    expect(table.out).toMatch(/ann@cli\.example\s+1000\s+\d{4}-/);
    const json = await hopmail(['--json', 'aliases', 'list']);
    expect(JSON.parse(json.out)).toEqual({ items: [expect.objectContaining({ source: 'info@cli.example', targets: ['ann@cli.example', 'ext@other.example'] })], nextCursor: null });
    const shown = await hopmail(['mailboxes', 'show', 'ann@cli.example', '--json']);
    expect(JSON.parse(shown.out)).toMatchObject({ address: 'ann@cli.example', messageCount: 0 });
    // set replaces the targets (PATCH), as the console's list editor does.
    expect(await hopmail(['aliases', 'set', 'info@cli.example', 'ext@other.example'])).toMatchObject({ code: 0, out: 'alias info@cli.example → ext@other.example\n' });
    expect(JSON.parse((await hopmail(['aliases', 'show', 'info@cli.example', '--json'])).out)).toMatchObject({ targets: ['ext@other.example'] });
    expect((await hopmail(['aliases', 'set', 'info@cli.example'])).code).toBe(2);
    expect((await hopmail(['aliases', 'set', 'nobody@cli.example', 'ann@cli.example'])).code).toBe(4);
  });

  test('domains policy: shows and sets the inbound authentication policy; bad values are usage errors', { timeout: 60_000 }, async () => {
    expect((await hopmail(['domains', 'add', 'policy.example'])).code).toBe(0);
    const shown = await hopmail(['domains', 'policy', 'policy.example']);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/dmarc-enforce\s+default \(smtp-ingress INBOUND_DMARC_ENFORCE\)/);
    expect(shown.out).toMatch(/spf-reject\s+default \(smtp-ingress INBOUND_SPF_REJECT\)/);
    const set = await hopmail(['domains', 'policy', 'policy.example', '--dmarc-enforce', 'off', '--spf-reject=on']);
    expect(set.code).toBe(0);
    expect(set.out).toMatch(/dmarc-enforce\s+off /);
    expect(set.out).toMatch(/spf-reject\s+on /);
    // What the API stores (and smtp-ingress reads): only the flags given change; default is null.
    const back = await hopmail(['--json', 'domains', 'policy', 'policy.example', '--spf-reject', 'default']);
    expect(JSON.parse(back.out)).toEqual({ name: 'policy.example', inboundDmarcEnforce: false, inboundSpfReject: null });
    expect(JSON.parse((await hopmail(['--json', 'domains', 'show', 'policy.example'])).out)).toMatchObject({ inboundDmarcEnforce: false, inboundSpfReject: null });
    const bad = await hopmail(['domains', 'policy', 'policy.example', '--dmarc-enforce', 'yes']);
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.err).toMatch(/--dmarc-enforce takes on, off or default/);
    expect((await hopmail(['domains', 'policy', 'policy.example', '--dmarc-reject', 'on'])).code).toBe(2);
    expect((await hopmail(['domains', 'policy', 'nowhere.example', '--spf-reject', 'on'])).code).toBe(4);
  });

  test('messages report: usage, 503 without rspamd (exit 6); search and trace show the spam verdict', { timeout: 60_000 }, async () => {
    const id = newMessageId();
    await insertMessage(api.db.pool, { id, raw: Buffer.from('Subject: s\r\n\r\nb\r\n'), mailFrom: 'ann@cli.example', recipients: ['ann@cli.example'], spam: { checked: true, action: 'add header', score: 7.5, required: 15, symbols: {} } });
    expect((await hopmail(['messages', 'report', id, 'eggs'])).code).toBe(2);
    const r = await hopmail(['messages', 'report', id, 'spam']);
    expect(r.code).toBe(6);
    expect(r.err).toMatch(/RSPAMD_CONTROLLER_URL/);
    expect((await hopmail(['messages', 'search', '--queue-id', id])).out).toMatch(/7\.50\/15\.00 add header/);
    expect((await hopmail(['trace', id])).out).toMatch(/spam: 7\.50\/15\.00 add header/);
  });

  test('abuse stats: a table of refusals by reason, or says there were none', { timeout: 60_000 }, async () => {
    expect(await hopmail(['abuse', 'stats'])).toMatchObject({ code: 0, out: 'no refusals in the last day\n' });
    const bucket = Math.floor(Date.now() / 300_000);
    await api.redis.hincrby(`${api.prefix}:abuse:${bucket}`, 'rcpt:dnsbl', 3);
    const r = await hopmail(['abuse', 'stats']);
    expect(r.out).toMatch(/^STAGE:REASON\s+LAST HOUR\s+LAST DAY\n/);
    expect(r.out).toMatch(/rcpt:dnsbl\s+3\s+3/);
  });

  test('abuse lists: block and allow addresses, networks and domains; bad input is a clear error; refusals', { timeout: 60_000 }, async () => {
    const b = await hopmail(['abuse', 'block', '198.51.100.0/24', '--reason', 'spam run', '--json']);
    expect(b.code).toBe(0);
    const entry = JSON.parse(b.out) as { id: number; value: string };
    expect(entry.value).toBe('198.51.100.0/24');
    expect((await hopmail(['abuse', 'allow', 'partner.example'])).out).toMatch(/^partner\.example is on the allowlist \(entry \d+\)\n$/);
    const bad = await hopmail(['abuse', 'block', '198.51.100.7/24']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/bits after the prefix length must be zero/);
    expect((await hopmail(['abuse', 'block', '198.51.100.0/24'])).code).toBe(5);
    const l = await hopmail(['abuse', 'lists']);
    expect(l.out).toMatch(/^ID\s+LIST\s+KIND\s+VALUE\s+REASON\s+BY\s+CREATED\n/);
    expect(l.out).toMatch(/block\s+network\s+198\.51\.100\.0\/24\s+spam run/);
    expect((await hopmail(['abuse', 'lists', '--list', 'allow'])).out).not.toMatch(/198\.51/);
    expect((await hopmail(['abuse', 'unlist', String(entry.id)])).out).toBe(`entry ${entry.id} removed\n`);
    expect((await hopmail(['abuse', 'unlist', String(entry.id)])).code).toBe(4);
    await api.db.pool.query(
      "INSERT INTO smtp_refusals (session_id, client_ip, sender, recipient, stage, reason, reply) VALUES ('s1', '192.0.2.9', 'x@remote.test', 'ann@cli.example', 'rcpt', 'greylisted', '451 4.7.1 Greylisted, please try again later')",
    );
    expect((await hopmail(['abuse', 'refusals', '--recipient', 'ann@cli.example'])).out).toMatch(/192\.0\.2\.9\s+x@remote\.test\s+ann@cli\.example\s+451 4\.7\.1 Greylisted/);
  });

  test('messages headers prints the header section only; webhooks test reports what the receiver answered', { timeout: 60_000 }, async () => {
    const id = newMessageId();
    await insertMessage(api.db.pool, { id, raw: Buffer.from('Subject: headers only\r\nX-Check: 1\r\n\r\nsecret body\r\n'), mailFrom: 'ann@cli.example', recipients: ['ann@cli.example'] });
    const h = await hopmail(['messages', 'headers', id]);
    expect(h).toMatchObject({ code: 0, out: 'Subject: headers only\nX-Check: 1\n' });
    expect((await hopmail(['messages', 'headers', '01900000-0000-7000-8000-000000000000'])).code).toBe(4);

    const add = await hopmail(['webhooks', 'add', 'http://127.0.0.1:9/hook', '--event', 'message.delivered', '--json']);
    const hook = JSON.parse(add.out) as { id: string };
    const t = await hopmail(['webhooks', 'test', hook.id, '--json']);
    expect(t.code).toBe(0);
    // The test API refuses loopback receivers like real events do, or nothing listens on port 9: either way not delivered, and said so.
    expect(JSON.parse(t.out)).toMatchObject({ ok: false, eventId: expect.any(String) });
    expect((await hopmail(['webhooks', 'test', hook.id])).out).toMatch(/^test event \S+: failed, /);
    expect((await hopmail(['webhooks', 'test', '01900000-0000-7000-8000-000000000000'])).code).toBe(4);
  });

  test('exit codes: usage 2, auth 3, not found 4, conflict 5, unreachable 6, API error 1', { timeout: 120_000 }, async () => {
    expect((await hopmail(['frobnicate'])).code).toBe(2);
    expect((await hopmail([])).code).toBe(2);
    expect((await hopmail(['queue', 'retry'])).code).toBe(2); // no filter: refused before any request
    expect((await hopmail(['queue', 'delete', '--domain', 'cli.example'])).code).toBe(2); // bulk delete needs --yes
    expect((await hopmail(['queue', 'list', '--domian', 'x.example'])).code).toBe(2); // typo never widens a filter
    const auth = await hopmail(['domains', 'list'], { token: 'wrong-token-wrong-token' });
    expect(auth.code).toBe(3);
    expect(auth.err).toMatch(/invalid bearer token \(401 unauthorized\)/);
    expect((await hopmail(['domains', 'list'], { token: '' })).code).toBe(3);
    const nf = await hopmail(['domains', 'show', 'nope.example', '--json']);
    expect(nf.code).toBe(4);
    expect(JSON.parse(nf.out)).toEqual({ error: { status: 404, code: 'not_found', message: expect.stringContaining('does not exist') } });
    expect((await hopmail(['domains', 'add', 'cli.example'])).code).toBe(5);
    expect((await hopmail(['domains', 'list'], { url: 'http://127.0.0.1:1' })).code).toBe(6);
    expect((await hopmail(['domains', 'add', 'bad..example'])).code).toBe(1);
    expect((await hopmail(['--help'])).code).toBe(0);
  });

  test('tls: set, list, show, outcomes, rm', { timeout: 60_000 }, async () => {
    const fp = 'cd'.repeat(32);
    expect(await hopmail(['tls', 'set', 'bank.example', 'verify', '--fingerprint', fp, '--note', 'pinned'])).toMatchObject({ code: 0, out: 'TLS policy for bank.example: verify (1 pinned)\n' });
    expect(await hopmail(['tls', 'set', 'plain.example', 'none'])).toMatchObject({ code: 0 });
    const listed = await hopmail(['tls', 'list']);
    expect(listed.out).toMatch(/bank\.example\s+verify/);
    expect(listed.out).toMatch(/plain\.example\s+none/);
    expect(JSON.parse((await hopmail(['--json', 'tls', 'show', 'bank.example'])).out)).toMatchObject({ fingerprints: [fp], note: 'pinned' });
    expect((await hopmail(['tls', 'set', 'bad.example', 'strict'])).code).toBe(1);
    await api.db.pool.query(`INSERT INTO tls_outcomes (day, domain, policy_type, mx_host, result_type, count) VALUES (current_date, 'bank.example', 'sts', 'mx.bank.example', '', 3)`);
    expect((await hopmail(['tls', 'outcomes', 'bank.example'])).out).toMatch(/sts\s+mx\.bank\.example\s+success\s+3/);
    expect(await hopmail(['tls', 'rm', 'plain.example'])).toMatchObject({ code: 0 });
    expect((await hopmail(['tls', 'show', 'plain.example'])).code).toBe(4);
  });

  test('webhooks: add shows the secret once, list shows health, rm deletes', { timeout: 60_000 }, async () => {
    const add = await hopmail(['webhooks', 'add', 'http://127.0.0.1:9/hook', '--event', 'message.delivered', '--event', 'message.bounced']);
    expect(add.code).toBe(0);
    const [, id, secret] = /^webhook (\S+) created; signing secret \(shown only now\):\n(whsec_\S+)\n$/.exec(add.out) ?? [];
    expect(secret).toBeTruthy();
    const list = await hopmail(['webhooks', 'list']);
    expect(list.out).toMatch(new RegExp(`${id}\\s+http://127.0.0.1:9/hook\\s+message.delivered,message.bounced\\s+true`));
    expect(list.out).not.toContain(secret!);
    expect((await hopmail(['webhooks', 'add', 'http://127.0.0.1:9/hook'])).code).toBe(2);
    expect((await hopmail(['webhooks', 'rm', id!])).code).toBe(0);
  });

  test('trace shows the inbound authentication results smtp-ingress stored', async () => {
    const id = newMessageId();
    const authResults = { authservId: 'mx.cli.example', spf: { result: 'pass', domain: 'sender.example' }, dkim: [{ result: 'pass', domain: 'sender.example' }], dmarc: { result: 'pass', domain: 'sender.example', policy: 'reject' }, arc: { result: 'none', instance: null } };
    await insertMessage(api.db.pool, { id, raw: Buffer.from('Subject: auth\r\n\r\nx\r\n'), mailFrom: 'news@sender.example', recipients: ['someone@remote.example'], authResults });
    const t = await hopmail(['trace', id]);
    expect(t.code).toBe(0);
    expect(t.out.split('\n')[1]).toBe('  authentication: spf=pass dkim=pass(sender.example) dmarc=pass(sender.example) arc=none');
  });

  test('keys: an admin creates a read-only key; with it changes exit 3', { timeout: 60_000 }, async () => {
    const k = await hopmail(['keys', 'add', 'viewer', '--scope', 'read-only', '--json']);
    expect(k.code).toBe(0);
    const key = JSON.parse(k.out).key as string;
    expect((await hopmail(['domains', 'list'], { token: key })).code).toBe(0);
    const denied = await hopmail(['domains', 'add', 'ro.example'], { token: key });
    expect(denied.code).toBe(3);
    expect(denied.err).toMatch(/403 forbidden/);
    expect((await hopmail(['keys', 'list'])).out).toMatch(/viewer\s+read-only/);
  });

  test('queue list / retry / hold / release / delete with progress, and the trace', { timeout: 120_000 }, async () => {
    // 30 deferred recipients at broken.example, as the relay leaves them after an outage.
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = newMessageId();
      ids.push(id);
      await insertMessage(api.db.pool, { id, raw: Buffer.from(`Subject: ${i}\r\n\r\nx\r\n`), mailFrom: 'ann@cli.example', recipients: [`u${i}@broken.example`] });
    }
    await api.db.pool.query(`UPDATE recipients SET status = 'deferred', attempts = 3, next_attempt_at = now() + interval '1 hour', last_reply = '451 4.4.1 connection refused' WHERE domain = 'broken.example'`);

    const list = await hopmail(['queue', 'list', '--domain', 'broken.example', '--reply', 'refused', '--limit', '5']);
    expect(list.code).toBe(0);
    expect(list.out.split('\n')[0]).toMatch(/^QUEUE ID\s+ADDRESS\s+STATUS\s+ATTEMPTS\s+NEXT ATTEMPT\s+LAST REPLY$/);
    expect(list.out.trim().split('\n')).toHaveLength(6);
    expect(list.err).toMatch(/^more: --cursor \S+ \(or --all\)/);
    const all = JSON.parse((await hopmail(['queue', 'list', '--domain', 'broken.example', '--all', '--json'])).out);
    expect(all.items).toHaveLength(30);

    const hold = await hopmail(['queue', 'hold', '--domain', 'broken.example', '--batch', '10', '--progress']);
    expect(hold.code).toBe(0);
    expect(hold.out).toBe('hold: 30 changed of 30 matching\n');
    expect(hold.err.trim().split('\n')).toEqual(['hold [#######.............] 10/30 33%', 'hold [#############.......] 20/30 67%', 'hold [####################] 30/30 100%']);
    expect(JSON.parse((await hopmail(['queue', 'hold', '--domain', 'broken.example', '--json'])).out)).toEqual({ action: 'hold', matched: 0, changed: 0, jobs: 0 });
    const rel = JSON.parse((await hopmail(['queue', 'release', '--domain', 'broken.example', '--json'])).out);
    expect(rel).toMatchObject({ action: 'release', matched: 30, changed: 30, jobs: 30 });
    const retry = await hopmail(['queue', 'retry', ids[0]!]);
    expect(retry.out).toBe('retry: 1 changed of 1 matching, 0 delivery jobs queued\n');
    const del = await hopmail(['queue', 'delete', '--domain', 'broken.example', '--min-age', '0', '--yes', '--json']);
    expect(JSON.parse(del.out)).toMatchObject({ action: 'delete', changed: 30 });

    const trace = await hopmail(['trace', ids[0]!]);
    expect(trace.code).toBe(0);
    expect(trace.out).toMatch(new RegExp(`^message ${ids[0]}  from <ann@cli.example>`));
    expect(trace.out).toMatch(/received\s+-\s+from <ann@cli\.example> local/);
    for (const a of ['hold', 'release', 'retry', 'delete']) expect(trace.out).toMatch(new RegExp(`admin-action\\s+u0@broken\\.example\\s+${a}\\b`));
    expect((await hopmail(['trace', '01900000-0000-7000-8000-000000000000'])).code).toBe(4);

    const stats = await hopmail(['queue', 'stats']);
    expect(stats.code).toBe(0);
    expect(stats.out).toMatch(/deliver-remote/);
    expect((await hopmail(['messages', 'search', '--sender', 'ann@cli.example', '--json'])).out).toContain(ids[0]!);
    const audit = await hopmail(['audit', '--action', 'queue.delete']);
    expect(audit.out).toMatch(/bootstrap\s+queue\.delete/);
  });
});

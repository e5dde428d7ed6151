// The web console end to end, in Debian's Chromium (playwright-core) against the services as
// processes (admin-api, smtp-ingress, routing, outbound-relay, housekeeper) with a fake DNS
// zone and a raw remote MX on 127.0.0.x: sign in, create a domain, a mailbox and an alias,
// send over SMTP and watch the overview and the trace, hold and release from the queue page,
// read-only keys, CSRF, expiry, sign-out, markup in every field shown back, axe-core on every
// page, screenshots under test-artifacts/console/.
import nodemailer from 'nodemailer';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startFakeDns, waitFor, type FakeDns } from '@hopmail/test-kit';
import { startCluster, type Cluster } from './cluster.ts';
import { chromiumMissing, ensureConsoleBuilt, launchBrowser, screenshot, seriousViolations, startRawMx, type Browser } from './console-kit.ts';

const MX_IP = '127.0.0.71';
const XSS_REPLY = '550 5.1.1 <script>window.__xss=1</script> "onerror=window.__xss=2 <img src=x onerror=window.__xss=3>';
const XSS_SUBJECT = '<script>window.__xss=4</script> "onerror=window.__xss=5 \u202Etxt.exe';
// An envelope sender can carry only atext (no <, >, "); the header's From carries the markup.
const XSS_SENDER = "o'onerror=window.__xss=6'@evil.test";
const XSS_FROM = '"<img src=x onerror=window.__xss=9>" <sender@evil.test>';

let cluster: Cluster;
let browser: Browser;
let dns: FakeDns;
let mx: { port: number; close(): Promise<void> };
let base: string;
const visited = new Set<string>();

const describeIf = chromiumMissing ? describe.skip : describe;
if (chromiumMissing) console.warn('console.test.ts skipped: /usr/bin/chromium is not installed (apt-get install chromium)');

async function sendMail(from: string, to: string, subject: string): Promise<void> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: cluster.smtpPort, secure: false, ignoreTLS: true });
  await t.sendMail({ envelope: { from, to: [to] }, raw: `From: ${XSS_FROM}\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nHello from the console test.\r\n` });
  t.close();
}

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await cluster.db.pool.query<T>(text, values)).rows;
}

/** Goes to a console page and waits until it shows its heading. */
async function open(path: string, heading: string | RegExp): Promise<void> {
  await browser.page.goto(base + path);
  await browser.page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/** axe-core finds nothing serious, and a screenshot is kept. */
async function check(name: string): Promise<void> {
  visited.add(name);
  await screenshot(browser.page, name);
  expect(await seriousViolations(browser.page), name).toEqual([]);
  expect(await browser.page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss), `${name}: injected markup ran`).toBeUndefined();
}

async function signIn(token: string): Promise<void> {
  const page = browser.page;
  await page.getByLabel('Admin token or API key').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describeIf('the web console', () => {
  beforeAll(async () => {
    await ensureConsoleBuilt();
    mx = await startRawMx(MX_IP, { 'slow@remote.test': '451 4.3.0 try again later', 'xss@remote.test': XSS_REPLY });
    dns = await startFakeDns({
      host: '127.0.0.72',
      records: [
        { name: 'test', type: 'SOA', data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 } },
        { name: 'mx.remote.test', type: 'A', data: MX_IP },
        { name: 'remote.test', type: 'MX', data: { preference: 10, exchange: 'mx.remote.test' } },
      ],
    });
    cluster = await startCluster({
      services: ['admin-api', 'smtp-ingress', 'routing', 'outbound-relay', 'housekeeper'],
      env: {
        SUBMISSION_PORT: String(await freePort()),
        SUBMISSIONS_PORT: String(await freePort()),
        DNS_SERVERS: `${dns.host}:${dns.port}`,
        DNS_TIMEOUT_MS: '500',
        DNS_TRIES: '1',
        RELAY_PORT: String(mx.port),
        RELAY_ALLOW_LOOPBACK_MX: 'true',
        RELAY_SCHEDULER_INTERVAL_MS: '200',
        QUEUE_SAMPLE_INTERVAL_MS: '1000',
        EVENTS_PUBLISH: 'false',
        WEBHOOK_DISPATCH: 'false',
        WEBHOOK_ALLOW_PRIVATE: 'true',
      },
    });
    base = `http://127.0.0.1:${cluster.adminPort}`;
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    await mx?.close();
    await dns?.stop();
  });

  it('serves the page with a strict CSP and refuses framing', async () => {
    const res = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  it('signs in (a wrong token is a readable error), then shows the overview', async () => {
    const page = browser.page;
    await page.goto(base + '/');
    await page.waitForURL(/\/sign-in/);
    await check('sign-in');
    await signIn('not-the-token-at-all');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('neither the admin token nor a live API key');
    await signIn(cluster.adminToken);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    const cookies = await browser.context.cookies(base);
    const session = cookies.find((c) => c.name === 'hopmail_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('creates a domain, a mailbox and an alias with a list of targets; errors are readable', async () => {
    const page = browser.page;
    await open('/domains', 'Domains');
    await page.getByLabel('Domain name').fill('console.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.getByRole('link', { name: 'console.test' }).waitFor();
    // The same again: the API's 409 as a sentence.
    await page.getByLabel('Domain name').fill('console.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('domain console.test already exists');
    // Markup in a domain name is refused by the API, and the refusal is shown as text.
    await page.getByLabel('Domain name').fill('<img src=x onerror=window.__xss=7>.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/body\.name/);
    await check('domains');

    await open('/mailboxes?domain=console.test', 'Mailboxes and aliases');
    await page.getByLabel('Address', { exact: true }).fill('alice@console.test');
    await page.getByLabel('Password', { exact: true }).fill('a long passphrase');
    await page.getByLabel('Quota').fill('1M');
    await page.getByRole('button', { name: 'Create mailbox' }).click();
    await page.getByRole('rowheader', { name: 'alice@console.test' }).waitFor();

    await page.getByLabel('Alias address').fill('team@console.test');
    await page.getByLabel('Add target').first().fill('alice@console.test, bob@elsewhere.test');
    await page.getByRole('button', { name: 'Add target' }).first().click();
    await page.getByRole('button', { name: 'Remove target bob@elsewhere.test' }).click();
    await page.getByLabel('Add target').first().fill('carol@elsewhere.test');
    await page.getByRole('button', { name: 'Add target' }).first().click();
    await page.getByRole('button', { name: 'Create alias' }).click();
    await page.getByRole('rowheader', { name: 'team@console.test' }).waitFor();
    // A quoted local part full of markup and an RTL override: stored, and shown as text.
    await page.getByLabel('Alias address').fill('"<script>window.__xss=8</script>\u202E"@console.test');
    await page.getByLabel('Add target').first().fill('alice@console.test');
    await page.getByRole('button', { name: 'Add target' }).first().click();
    await page.getByRole('button', { name: 'Create alias' }).click();
    await expect.poll(async () => (await page.locator('main').textContent()) ?? '').toMatch(/<script>window\.__xss=8<\/script>|body\.source/);
    expect(await page.locator('main script, main img').count()).toBe(0);
    const alias = await sql<{ targets: string[] }>(`SELECT targets FROM aliases WHERE source = 'team@console.test'`);
    expect(alias[0]!.targets).toEqual(['alice@console.test', 'carol@elsewhere.test']);
    await check('mailboxes');
  });

  it('mail sent over SMTP moves the overview counter and appears in the trace timeline', async () => {
    const page = browser.page;
    await open('/', 'Overview');
    const before = Number((await page.getByTestId('total-received').textContent())!.split(' ')[0]);
    await sendMail(XSS_SENDER, 'alice@console.test', XSS_SUBJECT);
    // Without reloading the page: the overview polls its aggregated endpoint.
    await expect.poll(async () => Number((await page.getByTestId('total-received').textContent())!.split(' ')[0]), { timeout: 20_000 }).toBeGreaterThan(before);
    await expect.poll(async () => Number((await page.getByTestId('total-delivered').textContent())!.split(' ')[0]), { timeout: 20_000 }).toBeGreaterThan(0);
    await page.getByTestId('service-admin-api').waitFor();
    await page.getByTestId('depth-queued').waitFor();
    await check('overview');

    const [msg] = await sql<{ id: string }>(`SELECT id FROM messages WHERE mail_from = $1`, [XSS_SENDER]);
    await open('/messages?recipient=alice%40console.test', 'Messages');
    await page.getByTestId('message-row').first().waitFor();
    await check('messages');
    await page.getByTestId('message-row').first().getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: 'Message trace' }).waitFor();
    expect(page.url()).toContain(`/messages/${msg!.id}`);
    const timeline = page.getByTestId('timeline');
    await timeline.getByText('Received').waitFor();
    await timeline.getByText('Delivered to mailbox').waitFor();
    expect(await page.getByTestId('message-facts').textContent()).toContain(XSS_SENDER);
    await page.getByRole('button', { name: 'Show the raw header' }).click();
    expect(await page.getByTestId('raw-headers').textContent()).toContain(`Subject: ${XSS_SUBJECT}`);
    expect(await page.getByTestId('raw-headers').textContent()).toContain(`From: ${XSS_FROM}`);
    expect(await page.locator('main script, main img').count()).toBe(0);
    await check('trace');
  });

  it('holds and releases a deferred message from the queue page, with the count and a progress bar', async () => {
    const page = browser.page;
    // Local aliases forward to the remote domain (an unauthenticated client may not relay).
    for (const [source, target] of [['slow@console.test', 'slow@remote.test'], ['refused@console.test', 'xss@remote.test']]) {
      expect((await cluster.api('POST', '/v1/aliases', { source, targets: [target] })).status).toBe(201);
    }
    await sendMail('sender@remote.test', 'slow@console.test', 'slow one');
    await sendMail('sender@remote.test', 'refused@console.test', 'refused one');
    await waitFor(async () => (await sql(`SELECT 1 FROM recipients WHERE address = 'slow@remote.test' AND status = 'deferred'`)).length === 1, { what: 'a deferred recipient', timeoutMs: 20_000 });
    await waitFor(async () => (await sql(`SELECT 1 FROM recipients WHERE address = 'xss@remote.test' AND status = 'bounced'`)).length === 1, { what: 'a bounced recipient', timeoutMs: 20_000 });

    await open('/queue?recipient=slow%40remote.test', 'Queue');
    await page.getByTestId('queue-row').first().waitFor();
    await page.getByRole('button', { name: 'Hold…' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByTestId('bulk-count').textContent()).toContain('1 recipient match');
    await dialog.getByRole('button', { name: 'Hold 1 recipient' }).click();
    await expect.poll(() => page.getByRole('status').last().textContent()).toContain('1 recipient changed');
    expect((await sql<{ status: string }>(`SELECT status FROM recipients WHERE address = 'slow@remote.test'`))[0]!.status).toBe('held');
    await page.getByTestId('queue-row').getByText('held').waitFor();
    await check('queue');

    await page.getByRole('button', { name: 'Release…' }).click();
    await dialog.getByRole('button', { name: 'Release 1 recipient' }).click();
    await expect.poll(async () => (await sql<{ status: string }>(`SELECT status FROM recipients WHERE address = 'slow@remote.test'`))[0]!.status).not.toBe('held');

    // The remote's refusal, markup and all, is shown as text in the queue and in the trace.
    await open('/queue?recipient=xss%40remote.test&status=bounced', 'Queue');
    await page.getByTestId('queue-row').first().waitFor();
    expect(await page.locator('main').textContent()).toContain('<script>window.__xss=1</script>');
    await page.getByTestId('queue-row').first().getByRole('link').click();
    await page.getByTestId('timeline').getByText('Bounced').first().waitFor();
    expect(await page.getByTestId('timeline').textContent()).toContain('"onerror=window.__xss=2');
    expect(await page.locator('main script, main img').count()).toBe(0);
    await check('trace-bounced');
  });

  it('audit log and webhooks: list, add, send a test event and see the answer, disable and enable', async () => {
    const page = browser.page;
    const receiver = await startRawHttp();
    try {
      await open('/webhooks', 'Webhooks');
      await page.getByLabel('URL').fill(`http://127.0.0.1:${receiver.port}/hook`);
      await page.getByLabel('Description').fill('<b>not bold</b>');
      await page.getByRole('button', { name: 'Add webhook' }).click();
      await page.getByTestId('webhook-secret').waitFor();
      await page.getByRole('button', { name: 'Send a test event' }).click();
      const result = page.getByTestId('webhook-test-result');
      await result.waitFor();
      expect(await result.textContent()).toContain('HTTP 202');
      expect(await result.textContent()).toContain('thanks');
      expect(receiver.received.at(-1)).toMatchObject({ type: 'webhook.test' });
      await page.getByRole('button', { name: 'Disable' }).click();
      await page.getByRole('button', { name: 'Enable' }).waitFor();
      await page.getByRole('button', { name: 'Enable' }).click();
      await page.getByRole('button', { name: 'Disable' }).waitFor();
      expect(await page.locator('main b').count()).toBe(0);
      await check('webhooks');
    } finally {
      await receiver.close();
    }
    await open('/audit?action=webhook.test', 'Audit log');
    await page.getByTestId('audit-row').first().waitFor();
    await open('/audit', 'Audit log');
    await page.getByTestId('audit-row').first().waitFor();
    expect(await page.locator('main').textContent()).toContain('session.create');
    await check('audit');
  });

  it('a change made with the session cookie but without the CSRF token is refused', async () => {
    const r = await browser.page.evaluate(async () => {
      const res = await fetch('/v1/domains', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'csrf.test' }) });
      return { status: res.status, body: (await res.json()) as { error: { message: string } } };
    });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toContain('X-CSRF-Token');
    expect(await sql(`SELECT 1 FROM domains WHERE name = 'csrf.test'`)).toEqual([]);
  });

  it('an expired session goes back to sign-in, and sign-in returns to the page', async () => {
    const page = browser.page;
    await open('/queue?status=held', 'Queue');
    await sql('UPDATE console_sessions SET expires_at = now() - interval \'1 second\'');
    // The queue page polls the API: it may meet the expiry before the click does (then the page
    // it was on is the one to return to). Either way the console goes to sign-in.
    const clicked = page.getByRole('link', { name: 'Domains' }).click({ timeout: 10_000 }).catch(() => {});
    await page.waitForURL(/\/sign-in\?next=/);
    await clicked;
    const next = decodeURIComponent(new URL(page.url()).searchParams.get('next')!);
    expect(['/domains', '/queue?status=held']).toContain(next);
    await signIn(cluster.adminToken);
    await page.waitForURL(`${base}${next}`);
    await page.getByRole('heading', { level: 1, name: next === '/domains' ? 'Domains' : 'Queue' }).waitFor();
  });

  it('a read-only key sees no buttons that would fail, and the API refuses the forged call', async () => {
    const page = browser.page;
    const key = (await cluster.api('POST', '/v1/keys', { name: 'viewer', scope: 'read-only' })).json.key as string;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in/);
    // Signed out: the old cookie is dead.
    expect(await page.evaluate(async () => (await fetch('/v1/session')).status)).toBe(401);
    await signIn(key);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await open('/domains', 'Domains');
    await page.getByRole('link', { name: 'console.test' }).waitFor();
    expect(await page.getByRole('button', { name: /Delete/ }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add domain' }).count()).toBe(0);
    await open('/mailboxes', 'Mailboxes and aliases');
    await page.getByRole('rowheader', { name: 'alice@console.test' }).waitFor();
    expect(await page.getByRole('button', { name: /Delete|Set password|Create/ }).count()).toBe(0);
    await open('/queue', 'Queue');
    expect(await page.getByRole('button', { name: /Hold|Release|Delete|Retry/ }).count()).toBe(0);
    await check('read-only-mailboxes');
    // The call the page would have made, forged with the right CSRF token: refused by the API.
    const r = await page.evaluate(async () => {
      const s = (await (await fetch('/v1/session')).json()) as { csrfToken: string; scope: string };
      const res = await fetch('/v1/mailboxes/alice%40console.test', { method: 'DELETE', headers: { 'x-csrf-token': s.csrfToken } });
      return { status: res.status, scope: s.scope };
    });
    expect(r).toEqual({ status: 403, scope: 'read-only' });
    expect(await sql(`SELECT 1 FROM mailboxes WHERE address = 'alice@console.test'`)).toHaveLength(1);
  });

  it('is usable at phone size: no sideways scrolling', async () => {
    const phone = await launchBrowser({ width: 390, height: 844 });
    try {
      await phone.page.goto(`${base}/sign-in`);
      await phone.page.getByLabel('Admin token or API key').fill(cluster.adminToken);
      await phone.page.getByRole('button', { name: 'Sign in' }).click();
      await phone.page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      await phone.page.getByTestId('rates').waitFor();
      const overflow = await phone.page.evaluate(() => { const g = globalThis as any; return g.document.documentElement.scrollWidth - g.innerWidth; });
      expect(overflow).toBeLessThanOrEqual(1);
      await screenshot(phone.page, 'phone-overview');
      await phone.page.goto(`${base}/queue`);
      await phone.page.getByRole('heading', { level: 1, name: 'Queue' }).waitFor();
      expect(await phone.page.evaluate(() => { const g = globalThis as any; return g.document.documentElement.scrollWidth - g.innerWidth; })).toBeLessThanOrEqual(1);
      await screenshot(phone.page, 'phone-queue');
    } finally {
      await phone.close();
    }
  });
}, 240_000);

/** A webhook receiver answering 202 with a short body, keeping what it got. */
async function startRawHttp(): Promise<{ port: number; received: Record<string, unknown>[]; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const received: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(202, { 'content-type': 'text/plain' }).end('thanks <i>receiver</i>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

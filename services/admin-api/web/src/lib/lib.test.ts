// The console's own logic, table-driven (no browser: these modules are pure).
import { describe, expect, it } from 'vitest';
import { buildUrl, describeFailure } from '../api/client.ts';
import { percent, runBulk } from './bulk.ts';
import { dnsRows } from './dns.ts';
import { formatAge, formatBytes, parseAge, parseSize, quotaPercent } from './format.ts';
import { actionFilter, formFromSearch, searchFromForm, toApiFilter, toQuery } from './queue-filter.ts';
import { matchRoute, safeNext, signInUrl } from './routes.ts';
import { can } from './scope.ts';
import { currentRate, queueColumns, queueNames, totals, trafficColumns, type QueueSample } from './series.ts';
import { addTargets, removeTarget, targetProblem } from './targets.ts';
import { extraFields, timeline } from './trace.ts';

describe('format', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [20 * 1024 * 1024, '20 MiB'],
  ])('formatBytes(%s) = %s', (n, s) => expect(formatBytes(n)).toBe(s));
  it('parses sizes and ages, refusing what it does not understand', () => {
    expect(parseSize('2G')).toBe(2 * 1024 ** 3);
    expect(parseSize('500 MiB')).toBe(500 * 1024 ** 2);
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('lots')).toBeNull();
    expect(parseAge('30m')).toBe(1800);
    expect(parseAge('2h')).toBe(7200);
    expect(parseAge('1d')).toBe(86400);
    expect(parseAge('90')).toBe(90);
    expect(parseAge('-1h')).toBeNull();
    expect(formatAge(3700)).toBe('1 h 1 min');
    expect(formatAge(45)).toBe('45 s');
    expect(quotaPercent(512, 1024)).toBe(50);
    expect(quotaPercent(5000, 1024)).toBe(100);
    expect(quotaPercent(5, 0)).toBeNull();
  });
});

describe('routes', () => {
  it('matches page patterns and decodes parameters', () => {
    expect(matchRoute('/domains/:name', '/domains/example.org')).toEqual({ name: 'example.org' });
    expect(matchRoute('/messages/:id', '/messages/a%2Fb')).toEqual({ id: 'a/b' });
    expect(matchRoute('/domains', '/domains/x')).toBeNull();
    expect(matchRoute('/domains/:name', '/domains/%E0%A4%A')).toBeNull();
  });
  it.each([
    ['/queue?status=held', '/queue?status=held'],
    ['//evil.example/', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['/sign-in?next=/x', '/'],
    ['/ok\nx', '/'],
    [null, '/'],
  ])('sign-in returns to %s → %s', (next, out) => expect(safeNext(next)).toBe(out));
  it('remembers the page in the sign-in address', () => {
    expect(signInUrl('/queue?status=held')).toBe('/sign-in?next=%2Fqueue%3Fstatus%3Dheld');
    expect(signInUrl('/')).toBe('/sign-in');
  });
});

describe('api client', () => {
  it('builds URLs with encoded path parameters and no empty query values', () => {
    expect(buildUrl('/v1/mailboxes/{address}', { address: 'a+b@x.org' })).toBe('/v1/mailboxes/a%2Bb%40x.org');
    expect(buildUrl('/v1/domains', undefined, { limit: 10, cursor: undefined, domain: '' })).toBe('/v1/domains?limit=10');
    expect(() => buildUrl('/v1/aliases/{source}', {})).toThrow(/source/);
  });
  it('turns error answers into readable sentences', () => {
    expect(describeFailure(409, { error: { code: 'conflict', message: 'domain x already exists' } }).message).toBe('domain x already exists');
    expect(describeFailure(502, '<html>bad gateway</html>').message).toMatch(/unavailable/);
    expect(describeFailure(418, null).message).toMatch(/HTTP 418/);
  });
});

describe('series', () => {
  const minutes = [
    { minute: '2026-01-01T10:00:00.000Z', received: 60, delivered: 30, deferred: 6, bounced: 0 },
    { minute: '2026-01-01T10:01:00.000Z', received: 30, delivered: 30, deferred: 0, bounced: 3 },
  ];
  const now = '2026-01-01T10:01:30.000Z';
  it('gives per-second rates, the partial minute by its elapsed seconds', () => {
    const [x, received, , , bounced] = trafficColumns(minutes, now);
    expect(x).toEqual([Date.parse(minutes[0]!.minute) / 1000, Date.parse(minutes[1]!.minute) / 1000]);
    expect(received).toEqual([1, 1]);
    expect(bounced).toEqual([0, 0.1]);
    expect(currentRate(minutes, now, 'received')).toBe(1);
    expect(totals(minutes)).toEqual({ received: 90, delivered: 60, deferred: 6, bounced: 3 });
  });
  it('orders queue names and fills missing ones with 0', () => {
    const samples: QueueSample[] = [
      { at: '2026-01-01T10:00:00Z', depths: { held: 1, 'route-message': 2, zeta: 3 } },
      { at: '2026-01-01T10:00:10Z', depths: { queued: 4 } },
    ];
    const names = queueNames(samples);
    expect(names).toEqual(['route-message', 'queued', 'held', 'zeta']);
    expect(queueColumns(samples, names).slice(1)).toEqual([[2, 0], [0, 4], [1, 0], [3, 0]]);
  });
});

describe('queue filters', () => {
  it('round-trips through the address bar and becomes the API filter', () => {
    const form = formFromSearch('?status=deferred,held,bogus&domain=x.org&minAge=2h');
    expect(form.status).toEqual(['deferred', 'held']);
    expect(searchFromForm(form)).toBe('?status=deferred%2Cheld&domain=x.org&minAge=2h');
    const f = toApiFilter(form);
    expect(f).toEqual({ ok: true, filter: { status: ['deferred', 'held'], domain: 'x.org', minAgeSeconds: 7200 } });
    expect(toQuery((f as { filter: object }).filter)).toEqual({ status: 'deferred,held', domain: 'x.org', minAgeSeconds: 7200 });
    expect(toApiFilter({ ...form, maxAge: 'soon' })).toMatchObject({ ok: false });
  });
  it("limits a bulk action to the states it changes", () => {
    expect(actionFilter({ status: ['deferred', 'held'] }, 'release').status).toEqual(['held']);
    expect(actionFilter({ domain: 'x.org' }, 'hold')).toEqual({ domain: 'x.org', status: ['relay', 'deferred'] });
    expect(actionFilter({ status: ['bounced'] }, 'retry').status).toEqual([]);
  });
});

describe('bulk actions', () => {
  it('walks in steps, reports progress, and finishes at the last cursor', async () => {
    const steps = [
      { matched: 200, changed: 200, jobs: 1, nextCursor: 'a' },
      { matched: 200, changed: 150, jobs: 0, nextCursor: 'b' },
      { matched: 50, changed: 50, jobs: 2, nextCursor: null },
    ];
    const cursors: (string | undefined)[] = [];
    const seen: number[] = [];
    const p = await runBulk(
      async (cursor) => {
        cursors.push(cursor);
        return steps[cursors.length - 1]!;
      },
      { total: 450, stepRows: 200, onProgress: (x) => seen.push(percent(x)) },
    );
    expect(cursors).toEqual([undefined, 'a', 'b']);
    expect(p).toEqual({ done: 450, changed: 400, jobs: 3, total: 450, finished: true });
    expect(seen).toEqual([44, 88, 100]);
  });
  it('stops when cancelled', async () => {
    const p = await runBulk(async () => ({ matched: 1, changed: 1, jobs: 0, nextCursor: 'x' }), { total: 10, stepRows: 1, onProgress: () => {}, cancelled: () => true });
    expect(p.finished).toBe(false);
    expect(p.done).toBe(1);
  });
});

describe('scope in the UI', () => {
  const ro = { actor: 'key:1', scope: 'read-only' as const, domains: [] };
  const da = { actor: 'key:2', scope: 'domain-admin' as const, domains: ['a.org'] };
  const admin = { actor: 'bootstrap', scope: 'admin' as const, domains: [] };
  it.each([
    [ro, 'write', undefined, false],
    [ro, 'read-global', undefined, true],
    [da, 'read-global', undefined, false],
    [da, 'write', 'A.org', true],
    [da, 'write', 'b.org', false],
    [da, 'manage-domains', undefined, false],
    [admin, 'manage-webhooks', undefined, true],
  ] as const)('%o may %s %s: %s', (who, ability, domain, allowed) => expect(can(who, ability, domain)).toBe(allowed));
  it('nobody signed in may do nothing', () => expect(can(null, 'read-global')).toBe(false));
});

describe('alias targets', () => {
  it('adds several at once without duplicates, removes one, and says what is wrong', () => {
    let t = addTargets([], 'a@x.org, b@y.org; @z.org');
    expect(t).toEqual(['a@x.org', 'b@y.org', '@z.org']);
    t = addTargets(t, 'A@X.ORG a@X.org');
    expect(t).toEqual(['a@x.org', 'b@y.org', '@z.org', 'A@X.ORG']);
    expect(removeTarget(t, 1)).toEqual(['a@x.org', '@z.org', 'A@X.ORG']);
    expect(targetProblem([])).toMatch(/at least one/);
    expect(targetProblem(['nope'])).toMatch(/"nope"/);
    expect(targetProblem(['a@x.org'])).toBeNull();
  });
});

describe('trace timeline', () => {
  it('summarises each kind of event, keeping remote text as plain text', () => {
    const items = timeline([
      { id: 1, at: 't1', type: 'received', recipient: null, service: null, actor: null, data: { sender: '', clientIp: '192.0.2.1', tls: true } },
      { id: 2, at: 't2', type: 'relay-attempt', recipient: null, service: null, actor: null, data: { outcome: 'deferred', mx: 'mx.x.org', reply: '451 <script>x</script>', tls: false } },
      { id: 3, at: 't3', type: 'admin-action', recipient: 'a@x.org', service: 'admin-api', actor: 'bootstrap', data: { action: 'hold' } },
      { id: 4, at: 't4', type: 'dsn-sent', recipient: 'a@x.org', service: null, actor: null, data: { suppressed: true } },
      { id: 5, at: 't5', type: 'delivered', recipient: 'b@y.org', service: null, actor: null, data: { mx: 'mx.y.org', dsnSuccess: 'passed-on' } },
    ]);
    expect(items[0]!.details).toContainEqual(['Sender', '<> (null sender)']);
    expect(items[0]!.details).toContainEqual(['TLS', 'yes']);
    expect(items[1]).toMatchObject({ title: 'Relay attempt: deferred', tone: 'warn' });
    expect(items[1]!.details).toContainEqual(['Remote reply', '451 <script>x</script>']);
    expect(items[2]!.title).toBe('Administrator: hold');
    expect(items[2]!.details).toContainEqual(['By', 'bootstrap']);
    expect(items[3]!.title).toBe('No DSN (null sender)');
    expect(items[4]!.details).toContainEqual(['Success DSN', 'the next hop’s to send (NOTIFY passed on)']);
    expect(items[4]!.details.map(([k]) => k)).not.toContain('dsnSuccess');
  });
  it('lists fields of the message the console does not know (authentication results)', () => {
    expect(extraFields({ id: 'x', sender: 'a', authResults: { spf: 'pass' } }, ['id', 'sender'])).toEqual([['authResults', '{"spf":"pass"}']]);
  });
});

describe('DNS check answers', () => {
  it('reads a list of records leniently and colours their status', () => {
    const rows = dnsRows({ domain: 'x.org', records: [{ type: 'MX', name: 'x.org', expected: '10 mx.x.org', status: 'ok' }, { type: 'TXT', name: 'x.org', expected: 'v=spf1 mx -all', status: 'mismatch', found: 'v=spf1 -all' }, { type: 'TXT', name: '_dmarc.x.org', value: 'v=DMARC1', status: 'missing' }] });
    expect(rows.map((r) => [r.type, r.status, r.tone])).toEqual([['MX', 'ok', 'ok'], ['TXT', 'mismatch', 'bad'], ['TXT', 'missing', 'bad']]);
    expect(rows[1]!.found).toBe('v=spf1 -all');
    expect(dnsRows('nonsense')).toEqual([]);
  });
});

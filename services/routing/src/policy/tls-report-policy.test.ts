import { describe, expect, it } from 'vitest';
import { decide, planRecipient, type PlannedRecipient } from './route-policy.ts';
import { planWithReport, reportRecipients, reportReply, type ReportOutcome } from './tls-report-policy.ts';

const opts = { localPart: 'tls-reports', subaddressDelimiter: '+' };
const taken: ReportOutcome = { kind: 'taken', organization: 'Org', reportId: 'r1@x', domains: ['a.example', 'b.example'], ours: ['a.example'] };
const invalid: ReportOutcome = { kind: 'invalid', reason: 'not JSON' };
const box = { id: 7, address: 'tls-reports@a.example' };

describe('report recipients', () => {
  it('are the report address at a local domain: unknown there, or a mailbox or alias of that name; never a relayed or looping one', () => {
    const planned: PlannedRecipient[] = [
      { id: 1, address: 'tls-reports@a.example', plan: planRecipient({ kind: 'unknown' }) },
      { id: 2, address: 'TLS-Reports+x@a.example', plan: planRecipient({ kind: 'ok', mailboxes: [box], remote: [] }) },
      { id: 3, address: 'tls-reports@remote.example', plan: planRecipient({ kind: 'not-local' }) },
      { id: 4, address: 'tls-reports@b.example', plan: planRecipient({ kind: 'loop' }) },
      { id: 5, address: 'alice@a.example', plan: planRecipient({ kind: 'unknown' }) },
    ];
    expect(reportRecipients(planned, opts).map((p) => p.id)).toEqual([1, 2]);
  });
});

describe('report outcome → plan → decision', () => {
  it.each([
    [taken, '250 2.0.0 TLS-RPT report <r1@x> from Org taken for a.example'],
    [{ ...taken, ours: [] }, '250 2.0.0 TLS-RPT report <r1@x> from Org taken, but about no domain of ours (a.example, b.example): not stored'],
    [{ ...taken, organization: 'Evil\r\nInjected: yes' }, '250 2.0.0 TLS-RPT report <r1@x> from Evil??Injected: yes taken for a.example'],
    [invalid, '550 5.6.0 not a TLS-RPT report (RFC 8460): not JSON; discarded'],
  ] as [ReportOutcome, string][])('%j → %s', (o, reply) => expect(reportReply(o)).toBe(reply));

  it('without a mailbox: delivered when taken, failed (no DSN, even for a real sender) when not', () => {
    const r = (o: ReportOutcome) => decide([{ id: 1, address: 'tls-reports@a.example', plan: planWithReport(planRecipient({ kind: 'unknown' }), o) }], () => 'ok', false);
    expect(r(taken)).toEqual({ mailboxRows: [], children: [], updates: [{ id: 1, status: 'delivered', reply: reportReply(taken), reason: null }] });
    expect(r(invalid).updates).toEqual([{ id: 1, status: 'failed', reply: reportReply(invalid), reason: 'not-a-report' }]);
  });

  it('with a mailbox: delivered there as usual, last_reply noting the report; a full mailbox still bounces with its own reply', () => {
    const plan = planWithReport(planRecipient({ kind: 'ok', mailboxes: [box], remote: [] }), taken);
    expect(decide([{ id: 1, address: box.address, plan }], () => 'ok', false)).toEqual({ mailboxRows: [{ mailboxId: 7, recipientId: 1 }], children: [], updates: [{ id: 1, status: 'delivered', reply: reportReply(taken), reason: null }] });
    expect(decide([{ id: 1, address: box.address, plan: planWithReport(planRecipient({ kind: 'ok', mailboxes: [box], remote: [] }), invalid) }], () => 'ok', false).updates[0]!.reply).toBe(
      '250 2.0.0 delivered; not a TLS-RPT report (not JSON)',
    );
    expect(decide([{ id: 1, address: box.address, plan }], () => 'full', false).updates).toEqual([{ id: 1, status: 'bounced', reply: '552 5.2.2 <tls-reports@a.example>: mailbox full', reason: 'quota' }]);
  });
});

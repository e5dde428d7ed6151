// The DNS doctor's look-ups through dns-cache (@hopmail/dns-client): every record of a
// domain at once, one query each.
import type { DnsClient } from '@hopmail/dns-client';
import type { Answer, ExpectedRecord } from '../policy/dns-doctor.ts';

export async function lookUp(dns: DnsClient, record: Pick<ExpectedRecord, 'name' | 'type'>): Promise<Answer> {
  if (record.type === 'MX') {
    const r = await dns.mx(record.name);
    return r.ok ? { ok: true, values: r.value.map((m) => `${m.priority} ${m.exchange.replace(/\.$/, '')}.`) } : r;
  }
  const r = await dns.txt(record.name);
  return r.ok ? { ok: true, values: r.value } : r;
}

/** Answers in the order of `records`; the same name and type is asked once. */
export async function lookUpAll(dns: DnsClient, records: readonly Pick<ExpectedRecord, 'name' | 'type'>[]): Promise<Answer[]> {
  const asked = new Map<string, Promise<Answer>>();
  return Promise.all(records.map((r) => {
    const key = `${r.type} ${r.name.toLowerCase()}`;
    if (!asked.has(key)) asked.set(key, lookUp(dns, r));
    return asked.get(key)!;
  }));
}

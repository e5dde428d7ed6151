// The DNS check's answer as table rows (pure). The check belongs to another part of Hopmail
// (GET /v1/domains/{name}/dns); until its schema is in the generated types, this reads the
// shapes it is likely to have — { records: [...] } or a bare list — leniently.

export interface DnsRow {
  type: string;
  name: string;
  expected: string;
  status: string;
  found: string;
  tone: 'ok' | 'bad' | 'warn' | 'info';
}

const text = (v: unknown): string => (v === undefined || v === null ? '' : Array.isArray(v) ? v.map(text).join(' ') : typeof v === 'object' ? JSON.stringify(v) : String(v));

export function dnsRows(data: unknown): DnsRow[] {
  const list = Array.isArray(data) ? data : data && typeof data === 'object' ? Object.values(data as Record<string, unknown>).find(Array.isArray) : undefined;
  if (!Array.isArray(list)) return [];
  return list
    .filter((r): r is Record<string, unknown> => !!r && typeof r === 'object')
    .map((r) => {
      const status = text(r.status ?? r.state ?? r.result);
      const tone = /^(ok|pass|match(ed)?|published)$/i.test(status) ? 'ok' : /missing|mismatch|fail|error|invalid|weak/i.test(status) ? 'bad' : status ? 'warn' : 'info';
      return {
        type: text(r.type ?? r.kind),
        name: text(r.name ?? r.host),
        expected: text(r.expected ?? r.value ?? r.publish ?? r.record),
        status: status || '–',
        found: text(r.found ?? r.actual ?? r.current),
        tone,
      };
    });
}

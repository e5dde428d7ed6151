// Human output: aligned columns, long cells cut, dates shortened.

export function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.map(cell).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  const s = String(v);
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s)) return s.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return s.replace(/[\r\n\t]+/g, ' ');
}

export function table(rows: readonly Record<string, unknown>[], columns: readonly (string | [string, string])[], maxWidth = 60): string {
  const cols = columns.map((c) => (typeof c === 'string' ? [c, c.toUpperCase()] : c)) as [string, string][];
  const cells = rows.map((r) => cols.map(([k]) => {
    const s = cell(r[k]);
    return s.length > maxWidth ? s.slice(0, maxWidth - 1) + '…' : s;
  }));
  const widths = cols.map(([, h], i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cols.map(([, h]) => h)), ...cells.map(line)].join('\n') + '\n';
}

export function keyValues(obj: Record<string, unknown>): string {
  const w = Math.max(...Object.keys(obj).map((k) => k.length));
  return Object.entries(obj).map(([k, v]) => `${k.padEnd(w)}  ${cell(v)}`).join('\n') + '\n';
}

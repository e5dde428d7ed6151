// The overview's answer as chart series and headline figures (pure).

export interface TrafficMinute {
  minute: string;
  received: number;
  delivered: number;
  deferred: number;
  bounced: number;
}
export type TrafficKind = 'received' | 'delivered' | 'deferred' | 'bounced';
export const TRAFFIC_KINDS: readonly TrafficKind[] = ['received', 'delivered', 'deferred', 'bounced'];

/** uPlot's columns: x in Unix seconds, then one array per kind, as messages per second. */
export function trafficColumns(minutes: readonly TrafficMinute[], now: string): [number[], ...number[][]] {
  const x = minutes.map((m) => Date.parse(m.minute) / 1000);
  const nowS = Date.parse(now) / 1000;
  const cols = TRAFFIC_KINDS.map((k) => minutes.map((m, i) => perSecond(m[k], i === minutes.length - 1 ? Math.max(1, nowS - x[i]!) : 60)));
  return [x, ...cols];
}

const perSecond = (n: number, seconds: number) => Math.round((n / seconds) * 1000) / 1000;

/**
 * The headline rate of a kind: messages per second over the last full minute and the current
 * one together (a steadier figure than the partial minute alone).
 */
export function currentRate(minutes: readonly TrafficMinute[], now: string, kind: TrafficKind): number {
  if (minutes.length === 0) return 0;
  const last = minutes[minutes.length - 1]!;
  const prev = minutes.length > 1 ? minutes[minutes.length - 2]! : null;
  const elapsed = Math.max(1, Math.min(60, Date.parse(now) / 1000 - Date.parse(last.minute) / 1000));
  const n = last[kind] + (prev ? prev[kind] : 0);
  return perSecond(n, elapsed + (prev ? 60 : 0));
}

export function totals(minutes: readonly TrafficMinute[]): Record<TrafficKind, number> {
  const out = { received: 0, delivered: 0, deferred: 0, bounced: 0 };
  for (const m of minutes) for (const k of TRAFFIC_KINDS) out[k] += m[k];
  return out;
}

export interface QueueSample {
  at: string;
  depths: Record<string, number>;
}

/** Every queue or status that appears in any sample, in a stable order (known ones first). */
export function queueNames(samples: readonly QueueSample[]): string[] {
  const order = ['route-message', 'deliver-remote', 'send-dsn', 'queued', 'relay', 'deferred', 'held'];
  const seen = new Set<string>();
  for (const s of samples) for (const k of Object.keys(s.depths)) seen.add(k);
  return [...order.filter((k) => seen.has(k)), ...[...seen].filter((k) => !order.includes(k)).sort()];
}

export function queueColumns(samples: readonly QueueSample[], names: readonly string[]): [number[], ...number[][]] {
  return [samples.map((s) => Date.parse(s.at) / 1000), ...names.map((n) => samples.map((s) => s.depths[n] ?? 0))];
}

/** The latest depth of each name, or null when nothing was sampled yet. */
export function latestDepths(samples: readonly QueueSample[]): Record<string, number> | null {
  return samples.length ? samples[samples.length - 1]!.depths : null;
}

// The relay benchmark under an `enforce` MTA-STS policy (cached in PostgreSQL) with verified
// TLS to the MX on every session, beside the opportunistic-STARTTLS figure of
// bench/outbound-relay.ts (issue #14: within 10 % of it).
// Run alone: `pnpm exec node bench/outbound-relay-mta-sts.ts`.
import { pathToFileURL } from 'node:url';
import { benchOutboundRelay, type BenchOutboundRelayOptions, type BenchOutboundRelayResult } from './outbound-relay.ts';

export function benchOutboundRelayMtaSts(opts: BenchOutboundRelayOptions = {}): Promise<BenchOutboundRelayResult> {
  return benchOutboundRelay({ ...opts, mtaSts: true });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(JSON.stringify(await benchOutboundRelayMtaSts()) + '\n');
  process.exit(0);
}

// The relay benchmark with DKIM signing on: every message signed with an Ed25519 and an
// RSA-2048 key of its From: domain (RFC 8463 dual signatures), beside the unsigned figure of
// bench/outbound-relay.ts. Run alone: `pnpm exec node bench/outbound-relay-signed.ts`.
import { pathToFileURL } from 'node:url';
import { benchOutboundRelay, type BenchOutboundRelayOptions, type BenchOutboundRelayResult } from './outbound-relay.ts';

export function benchOutboundRelaySigned(opts: BenchOutboundRelayOptions = {}): Promise<BenchOutboundRelayResult> {
  return benchOutboundRelay({ ...opts, signing: true });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(JSON.stringify(await benchOutboundRelaySigned()) + '\n');
  process.exit(0);
}

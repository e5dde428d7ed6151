// The relay benchmark with DKIM signing on: every message signed with an Ed25519 and an
// RSA-2048 key of its From: domain (RFC 8463 dual signatures), against the same relay process
// relaying unsigned mail (a domain without keys) in turn: BENCH_RELAY_SIGNED_ROUNDS rounds of
// each (default 3), unsigned and signed alternating (bench/outbound-relay.ts --alternate), the
// medians reported with their ratio (issue #12's target: signed within 20 % of unsigned). One
// run of each in separate processes moved by a fifth from run to run on this shared machine
// (signed/unsigned 0.78–0.89). Run alone: `pnpm exec node bench/outbound-relay-signed.ts`.
import { pathToFileURL } from 'node:url';
import { benchOutboundRelay, type BenchOutboundRelayOptions, type BenchOutboundRelayResult } from './outbound-relay.ts';
import { median } from './stats.ts';

export interface BenchOutboundRelaySignedResult extends Omit<BenchOutboundRelayResult, 'name'> {
  name: 'outbound-relay-signed';
  /** Median of the unsigned rounds (messagesPerSecond: of the signed ones). */
  unsignedMessagesPerSecond: number;
  /** Signed ÷ unsigned, of the medians, and round by round (each signed round against the unsigned one before it). */
  signedShareOfUnsigned: number;
  perRound: number[];
}

const ratio = (a: number, b: number) => Number((a / Math.max(1, b)).toFixed(2));

export async function benchOutboundRelaySigned(opts: BenchOutboundRelayOptions = {}): Promise<BenchOutboundRelaySignedResult> {
  const pairs = Number(process.env.BENCH_RELAY_SIGNED_ROUNDS ?? 3);
  const r = await benchOutboundRelay({ ...opts, alternate: 2 * pairs });
  const rounds = r.rounds ?? [];
  const signed = rounds.filter((x) => x.signed);
  const unsigned = rounds.filter((x) => !x.signed);
  const perSigned = (pick: (x: (typeof rounds)[number]) => number) => median(signed.map(pick));
  return {
    ...r,
    name: 'outbound-relay-signed',
    messagesPerSecond: perSigned((x) => x.messagesPerSecond),
    relayCpuMsPerMessage: perSigned((x) => x.relayCpuMsPerMessage),
    relayMainThreadCpuMsPerMessage: perSigned((x) => x.relayMainThreadCpuMsPerMessage),
    unsignedMessagesPerSecond: median(unsigned.map((x) => x.messagesPerSecond)),
    signedShareOfUnsigned: ratio(median(signed.map((x) => x.messagesPerSecond)), median(unsigned.map((x) => x.messagesPerSecond))),
    perRound: signed.map((s, i) => ratio(s.messagesPerSecond, unsigned[i]!.messagesPerSecond)),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(JSON.stringify(await benchOutboundRelaySigned()) + '\n');
  process.exit(0);
}

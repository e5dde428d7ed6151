// Which reports a recipient asked for with NOTIFY (RFC 3461 §4.1). Without NOTIFY, an MTA
// reports failures and may report delays (§4.1: "as if NOTIFY=FAILURE,DELAY"): what Hopmail
// did before DSN was offered. NEVER asks for nothing.
import type { DsnReason } from '@hopmail/queue';

const VALUE: Record<DsnReason, string> = { failed: 'FAILURE', delayed: 'DELAY', success: 'SUCCESS' };

export function wantsReport(notify: readonly string[] | null, reason: DsnReason): boolean {
  return notify === null ? reason !== 'success' : notify.includes(VALUE[reason]);
}

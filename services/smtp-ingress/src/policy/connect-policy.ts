import { ACCEPT, disconnect, type Verdict } from './verdict.ts';

export interface ConnectInput {
  remoteIp: string;
  /** Sessions from this address already open, this one not included. */
  openFromIp: number;
  maxPerIp: number;
  /** The listener is draining for shutdown. */
  closing: boolean;
  hostname: string;
}

/** RFC 5321 §3.8: a server that cannot serve the client now says 421 and closes. */
export function connectPolicy(i: ConnectInput): Verdict {
  if (i.closing) return disconnect('4.3.2', `${i.hostname} Service shutting down, try again later`, 'shutting-down');
  if (i.openFromIp >= i.maxPerIp) return disconnect('4.7.0', `${i.hostname} Too many connections from ${i.remoteIp}, try again later`, 'too-many-connections-from-ip');
  return ACCEPT;
}

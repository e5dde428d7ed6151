// AUTH decisions (RFC 4954). The reply texts are fixed so that nothing in them tells an
// unknown user from a wrong password.

import { disconnect, reject, defer, type Verdict, ACCEPT } from './verdict.ts';

/** RFC 4954 §6: the one reply for every credentials failure, known user or not. */
export const AUTH_FAILED = reject(535, '5.7.8', 'Authentication credentials invalid', 'bad-credentials');

/**
 * RFC 4616 §2: PLAIN carries an authorization identity (authzid) the client wants to act
 * as. We have no proxy authorization: one that is neither empty nor the login itself is
 * refused before the password is looked at. Decided: `535 5.7.8` like any other failure
 * (RFC 4954 has no better code, and a distinct one would only help a prober).
 */
export function authzidPolicy(i: { authzid: string; username: string }): Verdict {
  if (i.authzid === '' || i.authzid.toLowerCase() === i.username.toLowerCase()) return ACCEPT;
  return reject(535, '5.7.8', 'Authentication credentials invalid (authorization identity must be empty or the user name)', 'authzid-mismatch');
}

export interface ThrottleInput {
  /** Failures recorded (all replicas) for the client address / the user name within the window. */
  ipFailures: number;
  accountFailures: number;
  maxPerIp: number;
  maxPerAccount: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface Throttle {
  /** Refuse without checking the password: 454 4.7.0. */
  locked: boolean;
  /** Wait this long before answering a failure (doubles with each recorded failure). */
  delayMs: number;
}

/** Brute-force brake across replicas: a growing delay, then a temporary lock. */
export function throttlePolicy(i: ThrottleInput): Throttle {
  const n = Math.max(i.ipFailures, i.accountFailures);
  const locked = i.ipFailures >= i.maxPerIp || i.accountFailures >= i.maxPerAccount;
  const delayMs = n === 0 ? 0 : Math.min(i.maxDelayMs, i.baseDelayMs * 2 ** Math.min(n - 1, 30));
  return { locked, delayMs };
}

/** RFC 4954 §6: 454 4.7.0 Temporary authentication failure. */
export const AUTH_LOCKED = defer(454, '4.7.0', 'Temporary authentication failure, too many failed attempts; try again later', 'auth-locked');

export const authTooManyFailures = (hostname: string) =>
  disconnect('4.7.0', `${hostname} Error: too many failed authentication attempts, closing connection`, 'auth-too-many-failures');

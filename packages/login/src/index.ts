export { Authenticator, loginAllowed, type AuthOutcome, type AuthenticatorDeps, type LoginLimits } from './authenticator.ts';
export { FailureCounter, type FailureCounterOptions } from './failure-counter.ts';
export { dummyHash, hashPassword, verifyPassword } from './passwords.ts';

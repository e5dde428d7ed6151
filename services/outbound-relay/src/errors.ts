import { CodedError } from '@hopmail/service-kit';

// Coded errors of the outbound relay (CONVENTIONS §6).
export const ERR = {
  dnsTemporary: 'relay.dns-temporary',
  invalidConfig: 'relay.invalid-config',
  smarthostNoTls: 'relay.smarthost-no-tls',
} as const;

export function dnsTemporary(message: string, cause?: unknown): CodedError {
  return new CodedError(ERR.dnsTemporary, message, { temporary: true, smtp: { code: 451, enhanced: '4.4.3', text: message }, cause });
}

// @hopmail/dns-wire: a pure DNS message codec (RFC 1035, RFC 3596 AAAA, RFC 2308 negative
// answers, RFC 6891 OPT passed through). No sockets here; see services/dns-cache.
export * from './types.ts';
export * from './errors.ts';
export { decodeMessage, decodeHeader, encodeMessage, encodeQuery, frameTcp, TcpFrameReader, MAX_MESSAGE_SIZE, type HeaderWithCounts } from './codec.ts';
export { readName, parseName } from './name.ts';
export { ipv4ToBytes, ipv6ToBytes, bytesToIpv4, bytesToIpv6 } from './address.ts';

// DNS message codec (RFC 1035): filled in by the dns-cache work.
export {};

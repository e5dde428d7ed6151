// The parts of mailauth that its public API does not export but DKIM signing with oversigning
// needs: its header parser, header selection, relaxed canonicalisation and signature-line
// formatting. mailauth's dkimSign() lists in h= only the header fields present, so it cannot
// oversign (RFC 6376 §8.15: naming a field once more than it occurs, so that nobody can add
// one). Everything else — canonical forms, the body hash, the header line — is mailauth's.
// The version is pinned in the workspace catalog; dkim-sign.test.ts verifies the result with
// an independent verifier (dkimpy), so a change of these internals cannot pass unnoticed.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface ParsedHeader {
  /** lower case field name */
  key: string;
  casedKey: string;
  /** the whole field, folded as received, without the final CRLF */
  line: Buffer;
}

export interface SigningHeaderLines {
  /** the h= value: field names joined with ': ' */
  keys: string;
  headers: ParsedHeader[];
}

interface Tools {
  parseHeaders(buf: Buffer): { parsed: ParsedHeader[]; original: Buffer };
  getSigningHeaderLines(parsed: ParsedHeader[], fieldNames: string): SigningHeaderLines;
  formatSignatureHeaderLine(type: 'DKIM', values: Record<string, unknown>, folded: boolean): string;
}

interface BodyHasher {
  update(chunk: Buffer): void;
  digest(encoding: 'base64'): string;
}

export const tools = require('mailauth/lib/tools') as Tools;

export const dkimBody = (require('mailauth/lib/dkim/body') as { dkimBody(canonicalization: string, hashAlgo: string, maxBodyLength: false): BodyHasher }).dkimBody;

export const generateCanonicalizedHeader = (
  require('mailauth/lib/dkim/header') as {
    generateCanonicalizedHeader(
      type: 'DKIM',
      lines: SigningHeaderLines,
      options: Record<string, unknown>,
    ): { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, unknown> };
  }
).generateCanonicalizedHeader;

// DKIM and ARC public keys kept parsed, by the text of their key record (issue 12). mailauth
// parses the record of every signature of every message: DER into a KeyObject, exported to
// PEM, which crypto.verify() parses again — a quarter of the verification's CPU for a sender
// that signs twice (Ed25519 + RSA). mailauth still parses each record (and applies its rules:
// p=, k=, h=, s=, t=, the RSA size) the first time it is seen; the result is kept with the
// key as a KeyObject, so that the next message signed with the same record reuses it. The
// cache is keyed by the record's text, so a changed or revoked record is parsed afresh when
// DNS says so: freshness is the DNS answers' (authResolver's memo, then dns-cache's TTL), and
// a lookup is asked as before for every message. Failures (short, revoked, malformed keys)
// are never kept.
//
// The seam: mailauth builds one key lookup per message (tools.createKeyCache, used by its
// DkimVerifier and, through it, by the ARC check); it offers no option to pass our own, so
// the lookup is wrapped when DkimVerifier's constructor assigns it. The mailauth version is
// pinned in the workspace catalog and dkim-key-cache.test.ts fails if the seam moves.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export type KeyResolver = (name: string, rrtype: string) => Promise<unknown>;

/** What mailauth's getPublicKey() returns (the fields we touch). */
interface KeyLookup {
  publicKey: string | KeyObject;
  rr: string;
  [field: string]: unknown;
}

interface LookupOptions {
  strict?: boolean;
  hashAlgo?: string;
}

/** mailauth's per-message key lookup (tools.createKeyCache). */
export interface MessageKeyCache {
  resolver: KeyResolver;
  get(type: string, name: string, minBitLength?: number, options?: LookupOptions): Promise<KeyLookup>;
}

const tools = require('mailauth/lib/tools') as { createKeyCache(resolver: KeyResolver): MessageKeyCache; toALabel(name: string): string };

export interface DkimKeyCache {
  /** mailauth's per-message lookup with parsed keys reused across messages. */
  wrap(inner: MessageKeyCache): MessageKeyCache;
  stats(): { size: number; hits: number; misses: number };
}

/** At most `max` parsed keys, the least recently used dropped first. */
export function createDkimKeyCache(max: number): DkimKeyCache {
  const keys = new Map<string, KeyLookup>();
  let hits = 0;
  let misses = 0;
  // Everything that changes getPublicKey()'s outcome is in the key, as in mailauth's own
  // per-message cache, with the record text in place of the name.
  const keyOf = (type: string, minBitLength: number | undefined, options: LookupOptions | undefined, rr: string) =>
    [type, minBitLength ?? '', Boolean(options?.strict), options?.hashAlgo ?? '', rr].join('\0');

  return {
    stats: () => ({ size: keys.size, hits, misses }),
    wrap(inner) {
      return {
        resolver: inner.resolver,
        async get(type, name, minBitLength, options) {
          let rr: string;
          try {
            // The same question getPublicKey() asks, and its way of joining the answer.
            const list = (await inner.resolver(tools.toALabel(name), 'TXT')) as unknown[][] | undefined;
            rr = list ? ([] as unknown[]).concat(list[0] ?? []).join('').replace(/\s+/g, '') : '';
          } catch {
            rr = '';
          }
          const k = keyOf(type, minBitLength, options, rr);
          const hit = rr ? keys.get(k) : undefined;
          if (hit) {
            hits++;
            keys.delete(k);
            keys.set(k, hit);
            return hit;
          }
          misses++;
          const res = await inner.get(type, name, minBitLength, options);
          if (typeof res?.publicKey !== 'string' || !res.rr) return res;
          const pem = res.publicKey;
          const publicKey = createPublicKey(pem);
          // mailauth reports the key as text (result.publicKey = publicKey.toString()).
          Object.defineProperty(publicKey, 'toString', { value: () => pem });
          const kept = { ...res, publicKey };
          keys.set(keyOf(type, minBitLength, options, res.rr), kept);
          if (keys.size > max) keys.delete(keys.keys().next().value!);
          return kept;
        },
      };
    },
  };
}

// On mailauth's class, not in this module: a second instance of this module (a test runner's
// fresh module graph over the same required mailauth) finds the cache already in place.
const INSTALLED = Symbol.for('hopmail.dkim-key-cache');

/**
 * Puts `cache` under every DKIM/ARC verification of this thread (once per thread; later
 * calls return the cache already in place).
 */
export function installDkimKeyCache(cache: DkimKeyCache): DkimKeyCache {
  const { DkimVerifier } = require('mailauth/lib/dkim/dkim-verifier') as { DkimVerifier: { prototype: object; [INSTALLED]?: DkimKeyCache } };
  if (DkimVerifier[INSTALLED]) return DkimVerifier[INSTALLED];
  if (Object.getOwnPropertyDescriptor(DkimVerifier.prototype, 'keyCache')) throw new Error('mailauth: DkimVerifier.keyCache is no longer a plain field');
  Object.defineProperty(DkimVerifier.prototype, 'keyCache', {
    configurable: true,
    set(this: object, inner: MessageKeyCache) {
      Object.defineProperty(this, 'keyCache', { value: cache.wrap(inner), writable: true, configurable: true, enumerable: true });
    },
  });
  DkimVerifier[INSTALLED] = cache;
  return cache;
}

/** mailauth's own per-message lookup (tests). */
export const createMessageKeyCache = (resolver: KeyResolver): MessageKeyCache => tools.createKeyCache(resolver);

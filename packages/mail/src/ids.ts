import { randomFillSync } from 'node:crypto';

// UUIDv7 (RFC 9562 §5.7): 48 bits of Unix time in milliseconds, then 74 random bits, of which
// the first 32 (the version and variant bits aside) act as a counter within one millisecond
// (§6.2, method 1): ids from one process sort in the order they were made, even within the
// same millisecond. Random octets come from a pool refilled 256 ids at a time: one CSPRNG
// call per id cost as much as the rest of the id (about 1.6 of 3 µs, the uuid package's v7).

const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(16 * POOL_IDS);
let used = POOL_IDS;
let lastMs = -Infinity;
let counter = 0;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Time-ordered message id (UUIDv7); also the queue id shown in logs and Received: headers. */
export function newMessageId(): string {
  if (used === POOL_IDS) {
    randomFillSync(pool);
    used = 0;
  }
  const r = used++ * 16;
  let ms = Date.now();
  if (ms > lastMs) {
    // A new millisecond: the counter starts at a random value (its top bit clear, §6.2 leaves room to count).
    counter = ((pool[r + 6]! & 0x7f) << 24) | (pool[r + 7]! << 16) | (pool[r + 8]! << 8) | pool[r + 9]!;
    lastMs = ms;
  } else {
    // The same millisecond (or the clock went back): the next count; past 2^32, the next millisecond.
    counter = (counter + 1) | 0;
    if (counter === 0) lastMs++;
    ms = lastMs;
  }
  const b = [
    Math.floor(ms / 0x10000000000) & 0xff,
    Math.floor(ms / 0x100000000) & 0xff,
    (ms >>> 24) & 0xff,
    (ms >>> 16) & 0xff,
    (ms >>> 8) & 0xff,
    ms & 0xff,
    0x70 | ((counter >>> 28) & 0x0f),
    (counter >>> 20) & 0xff,
    0x80 | ((counter >>> 14) & 0x3f),
    (counter >>> 6) & 0xff,
    ((counter << 2) & 0xfc) | (pool[r + 10]! & 0x03),
  ];
  const h = HEX;
  return (
    h[b[0]!]! + h[b[1]!]! + h[b[2]!]! + h[b[3]!]! + '-' + h[b[4]!]! + h[b[5]!]! + '-' + h[b[6]!]! + h[b[7]!]! + '-' + h[b[8]!]! + h[b[9]!]! + '-' +
    h[b[10]!]! + h[pool[r + 11]!]! + h[pool[r + 12]!]! + h[pool[r + 13]!]! + h[pool[r + 14]!]! + h[pool[r + 15]!]!
  );
}

export const MESSAGE_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

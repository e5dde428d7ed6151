import { describe, expect, it } from 'vitest';
import { referencesThreads } from './thread.ts';

const item = (uid: number, header: string, day = uid) => ({ uid, internalDate: new Date(Date.UTC(2026, 0, day)), header: Buffer.from(header.replace(/\n/g, '\r\n') + '\r\n') });
const threads = (items: ReturnType<typeof item>[]) => referencesThreads(items, (u) => u);

describe('THREAD=REFERENCES (RFC 5256 §3)', () => {
  it('builds a tree from References, the last reference being the parent', () => {
    expect(threads([item(1, 'Message-ID: <1@x>'), item(2, 'Message-ID: <2@x>\nReferences: <1@x>'), item(3, 'Message-ID: <3@x>\nReferences: <1@x> <2@x>'), item(4, 'Message-ID: <4@x>\nReferences: <1@x>')])).toBe('(1 (2 3)(4))');
  });

  it('keeps a thread whose root is missing under a dummy, and promotes a dummy with a single child', () => {
    expect(threads([item(1, 'Message-ID: <1@x>\nReferences: <0@x>'), item(2, 'Message-ID: <2@x>\nReferences: <0@x>'), item(3, 'Message-ID: <3@x>\nReferences: <9@x> <8@x>')])).toBe('((1)(2))(3)');
  });

  it('treats duplicate and missing Message-IDs as distinct messages', () => {
    expect(threads([item(1, 'Message-ID: <d@x>\nSubject: a'), item(2, 'Message-ID: <d@x>\nSubject: b'), item(3, 'Subject: c')])).toBe('(1)(2)(3)');
  });

  it('ends on reference loops: the link made first stays', () => {
    expect(threads([item(1, 'Message-ID: <1@x>\nReferences: <2@x>'), item(2, 'Message-ID: <2@x>\nReferences: <1@x>'), item(3, 'Message-ID: <3@x>\nReferences: <3@x>')])).toBe('(2 1)(3)');
  });

  it('orders siblings and roots by sent date, the internal date when Date: is unreadable', () => {
    const d = (n: number) => `Date: ${n} Jan 2026 00:00:00 +0000`;
    expect(threads([item(1, `Message-ID: <1@x>\n${d(5)}`), item(2, `Message-ID: <2@x>\nReferences: <1@x>\n${d(9)}`), item(3, `Message-ID: <3@x>\nReferences: <1@x>\n${d(7)}`), item(4, 'Message-ID: <4@x>\nDate: garbage', 2)])).toBe('(4)(1 (3)(2))');
  });

  it('gathers roots by base subject: two originals under a dummy, a reply under its original', () => {
    expect(threads([item(1, 'Subject: Hello'), item(2, 'Subject: hello'), item(3, 'Subject: Re: hello'), item(4, 'Subject: Re: [list] other'), item(5, 'Subject: other')])).toBe('((1)(2)(3))(5 4)');
  });
});

import { describe, expect, it } from 'vitest';
import { classify, parseReply } from './classify.ts';

describe('classify', () => {
  const table: [string, 'delivered' | 'deferred' | 'bounced', string, string][] = [
    ['250 2.0.0 OK queued as 123', 'delivered', '2.0.0', 'class-2'],
    ['250 OK', 'delivered', '2.0.0', 'class-2'],
    ['450 4.2.1 mailbox busy', 'deferred', '4.2.1', 'class-4'],
    ['451 4.7.1 Greylisted, try again in 5 minutes', 'deferred', '4.7.1', 'class-4'],
    ['421 4.3.2 shutting down', 'deferred', '4.3.2', 'class-4'],
    ['550 5.1.1 No such user', 'bounced', '5.1.1', 'class-5'],
    ['554 Transaction failed', 'bounced', '5.0.0', 'class-5'],
    ['550 5.7.1 Greylisted, please try again later', 'deferred', '4.7.1', 'greylist-5xx'],
    ['552 Too many recipients', 'deferred', '4.5.3', 'too-many-recipients-552'],
    ['550 4.2.0 odd but temporary', 'deferred', '4.2.0', 'enhanced-4xx-in-5xx'],
    ['552 5.2.2 Mailbox full', 'bounced', '5.2.2', 'mailbox-full'],
    ['450 5.1.1 inconsistent', 'deferred', '4.0.0', 'class-4'],
    ['354 go ahead', 'deferred', '4.0.0', 'unexpected-code'],
    ['garbage', 'deferred', '4.0.0', 'unparsable'],
  ];
  it.each(table)('%s → %s %s', (raw, outcome, status, rule) => {
    expect(classify(parseReply(raw))).toEqual({ outcome, status, rule });
  });

  it('parses multi-line replies by their last line', () => {
    expect(parseReply('550-5.1.1 first\r\n550 5.1.1 second')).toEqual({ code: 550, enhanced: '5.1.1', text: 'first second' });
  });
});

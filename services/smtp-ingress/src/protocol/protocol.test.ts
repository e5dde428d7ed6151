import { describe, expect, it } from 'vitest';
import { findBareLineEnding, findHiddenTerminator, headerSectionLength, scanMessage, spamFlagged } from './message.ts';
import { protocolType, receivedHeader, rfc5322Date } from './received.ts';
import { enhanceReply } from './replies.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('findBareLineEnding', () => {
  it.each([
    ['a\r\nb\r\n', -1],
    ['', -1],
    ['\r\n', -1],
    ['a\nb\r\n', 1],
    ['\nb\r\n', 0],
    ['a\rb\r\n', 1],
    ['a\r\n\r', 3],
    ['a\r\r\n', 1],
    ['a\r\n.\nb\r\n', 4],
    ['a\r\n.\r', 4],
    ['a\n\r', 1],
  ])('%j → %i', (input, expected) => {
    expect(findBareLineEnding(b(input))).toBe(expected);
  });

  // It scans 64 KiB windows: line ends across and next to a window's edge, and random mixes
  // of CR, LF and text around the edges, give what a plain octet-by-octet search gives.
  const reference = (buf: Buffer) => {
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] === 0x0d && buf[i + 1] !== 0x0a) return i;
      if (buf[i] === 0x0a && (i === 0 || buf[i - 1] !== 0x0d)) return i;
    }
    return -1;
  };
  const W = 65_536;
  const around = (at: number, s: string, total = 2 * W + 10) => {
    const buf = Buffer.alloc(total, 'x');
    buf.write(s, at, 'latin1');
    return buf;
  };
  it.each([
    ['CRLF across the edge', around(W - 1, '\r\n'), -1],
    ['CRLF across the second edge', around(2 * W - 1, '\r\n'), -1],
    ['CRLF just after the edge', around(W, '\r\n'), -1],
    ['bare CR as the last octet of a window', around(W - 1, '\r'), W - 1],
    ['bare LF as the first octet of a window', around(W, '\n'), W],
    ['CR at the edge, LF one later', around(W - 1, '\rx\n'), W - 1],
    ['CRLF right before the edge, then LF', around(W - 2, '\r\n\n'), W],
    ['bare CR as the very last octet', Buffer.concat([Buffer.alloc(W, 'x'), Buffer.from('\r')]), W],
    ['exactly one window, CRLF at its end', Buffer.concat([Buffer.alloc(W - 2, 'x'), Buffer.from('\r\n')]), -1],
  ])('%s', (_name, buf, expected) => {
    expect(findBareLineEnding(buf)).toBe(expected);
    expect(reference(buf)).toBe(expected);
  });

  it('agrees with an octet-by-octet search on random CR/LF mixes around the edges', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let k = 0; k < 300; k++) {
      const total = W * (1 + rand(3)) + rand(5) - 2;
      const buf = Buffer.alloc(total, 'x');
      // CRLF pairs everywhere, then a few octets near an edge changed.
      for (let i = 78; i + 1 < total; i += 80) buf.write('\r\n', i, 'latin1');
      const edge = W * (1 + rand(2));
      for (let j = 0; j < 1 + rand(3); j++) {
        const at = edge - 3 + rand(7);
        if (at >= 0 && at < total) buf[at] = [0x0d, 0x0a, 0x78][rand(3)]!;
      }
      expect(findBareLineEnding(buf), `case ${k}`).toBe(reference(buf));
    }
  });
});

describe('scanMessage', () => {
  it('counts Received: fields in the header section only, any case', () => {
    const m = b('Received: a\r\n\tfolded\r\nreceived : b\r\nRECEIVED:c\r\nX-Received: no\r\nSubject: x\r\n\r\nReceived: body\r\n');
    expect(scanMessage(m).receivedCount).toBe(3);
  });
  it('unfolds Message-ID', () => {
    expect(scanMessage(b('Subject: x\r\nMessage-ID:\r\n <abc@x>\r\n\r\nbody\r\n')).messageId).toBe('<abc@x>');
    expect(scanMessage(b('message-id: <q@x> \r\n\r\n')).messageId).toBe('<q@x>');
    expect(scanMessage(b('Subject: x\r\n\r\nMessage-ID: <body@x>\r\n')).messageId).toBeNull();
  });
  it('sees 8-bit octets', () => {
    expect(scanMessage(b('Subject: x\r\n\r\nplain\r\n')).eightBit).toBe(false);
    expect(scanMessage(Buffer.from('Subject: x\r\n\r\nzürich\r\n')).eightBit).toBe(true);
  });
  it('finds a NUL anywhere, and a line of control octets and "." (a hidden terminator)', () => {
    expect(findHiddenTerminator(b('a\r\n\u0000.\r\nb'))).toBe(3);
    expect(findHiddenTerminator(b('x\u0000y'))).toBe(1);
    expect(findHiddenTerminator(b('\u000b.\r\n'))).toBe(0);
    expect(findHiddenTerminator(b('a\r\n\u001b\u007f.\r\n'))).toBe(3);
    expect(findHiddenTerminator(b('end.\r\n\t.\r\n.\r\nx\u000b.\r\n'))).toBe(-1);
  });
  it('handles a message without headers or without a body', () => {
    expect(headerSectionLength(b('\r\nbody\r\n'))).toBe(0);
    expect(headerSectionLength(b('Subject: x\r\n'))).toBe(12);
    expect(headerSectionLength(b('A: 1\r\n\r\nb'))).toBe(6);
  });
});

describe('receivedHeader', () => {
  const base = { helo: 'client.test', rdns: null, ip: '192.0.2.1', hostname: 'mx.example', protocol: 'ESMTP', id: '0190a0b0-0000-7000-8000-000000000000', date: new Date(Date.UTC(2026, 10, 28, 9, 5, 7)) };
  it('names one recipient', () => {
    expect(receivedHeader({ ...base, recipients: ['a@x.org'] })).toBe(
      'Received: from client.test ([192.0.2.1])\r\n\tby mx.example (Hopmail) with ESMTP id 0190a0b0-0000-7000-8000-000000000000\r\n\tfor <a@x.org>; Sat, 28 Nov 2026 09:05:07 +0000\r\n',
    );
  });
  it('names no recipient when there are several, and keeps the HELO name from breaking the syntax', () => {
    const h = receivedHeader({ ...base, helo: 'evil) (x;y', rdns: 'host.example', ip: '2001:db8::1', recipients: ['a@x.org', 'b@x.org'] });
    expect(h).toBe('Received: from evil___x_y (host.example [IPv6:2001:db8::1])\r\n\tby mx.example (Hopmail) with ESMTP id 0190a0b0-0000-7000-8000-000000000000;\r\n\tSat, 28 Nov 2026 09:05:07 +0000\r\n');
  });
  it('formats dates and protocol types', () => {
    expect(rfc5322Date(new Date(Date.UTC(2027, 0, 1, 0, 0, 0)))).toBe('Fri, 1 Jan 2027 00:00:00 +0000');
    expect(protocolType({ ehlo: true, tls: false, auth: false, smtputf8: false })).toBe('ESMTP');
    expect(protocolType({ ehlo: false, tls: false, auth: false, smtputf8: false })).toBe('SMTP');
    expect(protocolType({ ehlo: true, tls: true, auth: true, smtputf8: false })).toBe('ESMTPSA');
    expect(protocolType({ ehlo: true, tls: false, auth: false, smtputf8: true })).toBe('UTF8SMTP');
  });
});

describe('enhanceReply', () => {
  it.each([
    [421, 'mx Too many connected clients, try again in a moment', false, '4.7.0 mx Too many connected clients, try again in a moment'],
    [421, 'Timeout - closing connection', undefined, '4.4.2 Timeout - closing connection'],
    [421, 'Server shutting down', 'EHLO', '4.3.2 Server shutting down'],
    [501, 'Error: syntax: EHLO hostname', false, '5.5.4 Error: syntax: EHLO hostname'],
    [503, 'Error: need MAIL command', undefined, '5.5.1 Error: need MAIL command'],
    [500, 'Error: command not recognized', 'FOO', '5.5.2 Error: command not recognized'],
    [501, 'Error: Bad sender address syntax', 'SENDER_SYNTAX_ERROR', '5.1.7 Error: Bad sender address syntax'],
    [452, 'Error: too many recipients', 'TOO_MANY_RECIPIENTS', '4.5.3 Error: too many recipients'],
    [250, 'Accepted', 'RCPT_TO_OK', '2.1.5 Accepted'],
    [221, 'Bye', undefined, '2.0.0 Bye'],
    [554, '5.7.1 <x@y>: Relay access denied', undefined, '5.7.1 <x@y>: Relay access denied'],
    [220, 'mx ESMTP Hopmail', false, 'mx ESMTP Hopmail'],
    [250, 'mx Hello [127.0.0.1]', false, 'mx Hello [127.0.0.1]'],
    [354, 'End data with <CR><LF>.<CR><LF>', undefined, 'End data with <CR><LF>.<CR><LF>'],
  ] as const)('%i %s (%s)', (code, text, context, expected) => {
    expect(enhanceReply(code, text, context).text).toBe(expected);
  });
});

describe('spamFlagged (routing files the message in Junk: migration 0025)', () => {
  const m = (s: string) => Buffer.from(s, 'latin1');
  it('finds X-Spam-Flag: YES anywhere in the header section, in any case, folded or not', () => {
    expect(spamFlagged(m('X-Spam-Flag: YES\r\nReceived: x\r\n\r\nbody\r\n'))).toBe(true);
    expect(spamFlagged(m('Authentication-Results: mx; none\r\nX-Spam-Flag: YES\r\n\r\nb\r\n'))).toBe(true);
    expect(spamFlagged(m('Subject: s\r\nx-spam-flag :\tyes\r\n\r\n'))).toBe(true);
    expect(spamFlagged(m('X-Spam-Flag:\r\n  Yes\r\nSubject: s\r\n\r\n'))).toBe(true);
    expect(spamFlagged(m('X-Spam-Flag: YES'))).toBe(true); // no body at all
  });
  it('not NO, not a longer word, not another field, not in the body', () => {
    expect(spamFlagged(m('X-Spam-Flag: NO\r\n\r\n'))).toBe(false);
    expect(spamFlagged(m('X-Spam-Flag: YESTERDAY\r\n\r\n'))).toBe(false);
    expect(spamFlagged(m('X-Spam-Flag-Old: YES\r\nX-Old-X-Spam-Flag: YES\r\n\r\n'))).toBe(false);
    expect(spamFlagged(m('Subject: X-Spam-Flag: YES\r\n\r\n'))).toBe(false);
    expect(spamFlagged(m('Subject: s\r\n\r\nX-Spam-Flag: YES\r\n'))).toBe(false);
    expect(spamFlagged(m('\r\nX-Spam-Flag: YES\r\n'))).toBe(false);
  });
});

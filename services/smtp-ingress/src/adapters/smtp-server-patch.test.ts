// The patch to smtp-server (patches/smtp-server@3.21.6.patch), tested on the library alone,
// the way it would be offered upstream: SMTPStream's data mode drops the leading dot of
// every line that has more on it (RFC 5321 §4.5.2), its chunk mode reads BDAT octets
// untouched (RFC 3030), and SMTPServer offers CHUNKING and BINARYMIME, hideable, with
// rejectOversized honoured for BDAT. No Hopmail code is involved.
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { SmtpClient } from '../../test/helpers.ts';

/** Feeds `input` to a parser in DATA mode in pieces of `step` octets; resolves with what the data stream emitted. */
function dataMode(input: string, step: number | number[]): Promise<{ data: string; after: string[] }> {
  const parser = new SMTPStream();
  const after: string[] = [];
  parser.oncommand = (line, cb) => {
    after.push(line.toString('latin1'));
    cb?.();
  };
  const stream = parser.startDataMode();
  const out: Buffer[] = [];
  stream.on('data', (b: Buffer) => out.push(b));
  return new Promise((resolve) => {
    stream.on('end', () => {
      parser.continue();
      // The rest of the input is processed once continue() was called.
      setImmediate(() => resolve({ data: Buffer.concat(out).toString('latin1'), after }));
    });
    const bytes = Buffer.from(input, 'latin1');
    // A number: pieces of that size; a list: cut at those offsets.
    const cuts = typeof step === 'number' ? Array.from({ length: Math.ceil(bytes.length / step) }, (_, i) => i * step) : [0, ...step];
    cuts.forEach((at, i) => parser.write(bytes.subarray(at, cuts[i + 1] ?? bytes.length)));
  });
}

describe('SMTPStream data mode: a leading dot goes when the line has more (RFC 5321 §4.5.2)', () => {
  const cases: [string, string, string][] = [
    ['"..x" → ".x" (dot-stuffing undone)', '..x\r\n..\r\n.\r\n', '.x\r\n.\r\n'],
    ['unstuffed ".x" → "x", first line and later lines', '.x\r\nmid\r\n.y z\r\n.\r\n', 'x\r\nmid\r\ny z\r\n'],
    ['a dot inside a line stays', 'a.b\r\n .c\r\n.\r\n', 'a.b\r\n .c\r\n'],
    ['a "." line ended by a bare LF stays as sent (the hidden terminator the application refuses)', 'x\r\n.\nmore\r\n.\r\n', 'x\r\n.\nmore\r\n'],
    ['a dot after a bare LF with more on the line loses the dot like any other', 'x\n.y\r\n.\r\n', 'x\ny\r\n'],
  ];
  for (const step of [1, 2, 3, 5, 64]) {
    it.each(cases)(`%s (pieces of ${step})`, async (_name, input, expected) => {
      const r = await dataMode(input + 'NOOP\r\n', step);
      expect(r.data).toBe(expected);
      expect(r.after).toEqual(['NOOP']);
    });
  }

  it('finds every line-start dot and the terminator wherever the input is cut (the scan looks for LF + dot natively)', async () => {
    const lines = ['first', '.stuffed', '..', 'a.b', '...', '. space', 'x'.repeat(70), '...z', 'last'];
    const input = lines.map((l) => `${l}\r\n`).join('') + '.\r\nNOOP\r\n';
    const expected = lines.map((l) => `${l.startsWith('.') && l.length > 1 ? l.slice(1) : l}\r\n`).join('');
    for (let at = 1; at < input.length; at++) {
      const r = await dataMode(input, [at]);
      expect(r.data, `cut at ${at}`).toBe(expected);
      expect(r.after, `cut at ${at}`).toEqual(['NOOP']);
    }
  });
});

describe('SMTPStream chunk mode (RFC 3030 BDAT)', () => {
  it('reads exactly the octets given, untouched, and reads the next command only after continue()', async () => {
    const parser = new SMTPStream();
    const commands: string[] = [];
    const sink = new PassThrough();
    const got: Buffer[] = [];
    sink.on('data', (b: Buffer) => got.push(b));
    let ended = 0;
    parser.oncommand = (line, cb) => {
      commands.push(line.toString('latin1'));
      if (line.toString() === 'BDAT') parser.startChunkMode(10, sink, () => ended++);
      cb?.();
    };
    const wire = Buffer.from('BDAT\r\n.\r\n..\r\nA\0\rNOOP\r\n', 'latin1');
    for (const b of wire) parser.write(Buffer.from([b]));
    await new Promise((r) => setImmediate(r));
    expect(ended).toBe(1);
    expect(Buffer.concat(got).toString('latin1')).toBe('.\r\n..\r\nA\0\r');
    expect(commands).toEqual(['BDAT']);
    parser.continue();
    await new Promise((r) => setImmediate(r));
    expect(commands).toEqual(['BDAT', 'NOOP']);
  });

  it('a null sink reads and drops the octets; holdUntilContinue() holds the next command', async () => {
    const parser = new SMTPStream();
    const commands: string[] = [];
    parser.oncommand = (line, cb) => {
      const l = line.toString('latin1');
      commands.push(l);
      if (l === 'SKIP') parser.startChunkMode(6, null, () => parser.continue());
      if (l === 'HOLD') return parser.holdUntilContinue(() => cb?.());
      cb?.();
    };
    parser.write(Buffer.from('SKIP\r\nQUIT\r\nHOLD\r\nNOOP\r\n'));
    await new Promise((r) => setImmediate(r));
    expect(commands).toEqual(['SKIP', 'HOLD']);
    parser.continue();
    await new Promise((r) => setImmediate(r));
    expect(commands).toEqual(['SKIP', 'HOLD', 'NOOP']);
  });

  it('waits for a sink that needs draining', async () => {
    const parser = new SMTPStream();
    let release: (() => void) | undefined;
    const seen: number[] = [];
    const sink = new Writable({
      highWaterMark: 4,
      write(chunk: Buffer, _e, cb) {
        seen.push(chunk.length);
        release = cb;
      },
    });
    let ended = false;
    parser.oncommand = (_line, cb) => {
      parser.startChunkMode(10, sink, () => (ended = true));
      cb?.();
    };
    parser.write(Buffer.from('BDAT\r\n01234'));
    parser.write(Buffer.from('56789'));
    await new Promise((r) => setImmediate(r));
    expect(ended).toBe(false);
    release!();
    await new Promise((r) => setImmediate(r));
    release?.();
    await new Promise((r) => setImmediate(r));
    expect(ended).toBe(true);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(10);
  });
});

describe('SMTPServer with the patch', () => {
  const servers: SMTPServer[] = [];
  const clients: SmtpClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  });
  async function start(options: SMTPServerOptions): Promise<{ client: SmtpClient; messages: Buffer[] }> {
    const messages: Buffer[] = [];
    const server = new SMTPServer({
      logger: false,
      disableReverseLookup: true,
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      hideENHANCEDSTATUSCODES: false,
      onData(stream, _session, cb) {
        const parts: Buffer[] = [];
        stream.on('data', (b: Buffer) => parts.push(b));
        stream.on('end', () => {
          messages.push(Buffer.concat(parts));
          cb(null, 'kept');
        });
      },
      ...options,
    });
    servers.push(server);
    const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
    const client = await SmtpClient.connect(port);
    clients.push(client);
    return { client, messages };
  }

  it('offers CHUNKING and BINARYMIME by default and takes a chunked binary message', async () => {
    const { client: c, messages } = await start({});
    expect(await c.cmd('EHLO a.test')).toMatch(/\n250-CHUNKING\n250 BINARYMIME$/);
    expect(await c.cmd('MAIL FROM:<a@a.test> BODY=BINARYMIME')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<b@b.test>')).toMatch(/^250 /);
    c.write('BDAT 3\r\n\0\r\n');
    expect(await c.reply()).toBe('250 2.0.0 OK: 3 octets received');
    c.write('BDAT 3 LAST\r\n.\r\n');
    expect(await c.reply()).toBe('250 2.6.0 kept');
    expect(messages[0]!.toString('latin1')).toBe('\0\r\n.\r\n');
  });

  it('hideCHUNKING: neither extension offered, BDAT is 502, BODY=BINARYMIME is 501', async () => {
    const { client: c } = await start({ hideCHUNKING: true });
    const ehlo = await c.cmd('EHLO a.test');
    expect(ehlo).not.toMatch(/CHUNKING|BINARYMIME/);
    expect(await c.cmd('MAIL FROM:<a@a.test> BODY=BINARYMIME')).toMatch(/^501 /);
    expect(await c.cmd('BDAT 0 LAST')).toMatch(/^502 /);
  });

  it('hideBINARYMIME: CHUNKING only', async () => {
    const { client: c } = await start({ hideBINARYMIME: true });
    const ehlo = await c.cmd('EHLO a.test');
    expect(ehlo).toMatch(/\n250 CHUNKING$/);
    expect(await c.cmd('MAIL FROM:<a@a.test> BODY=BINARYMIME')).toMatch(/^501 /);
  });

  it('rejectOversized: the chunk past `size` is answered 552 by the library, the handler sees sizeExceeded', async () => {
    const { client: c, messages } = await start({ size: 10, rejectOversized: true });
    await c.cmd('EHLO a.test');
    await c.cmd('MAIL FROM:<a@a.test>');
    await c.cmd('RCPT TO:<b@b.test>');
    c.write('BDAT 6\r\n123456BDAT 6\r\n123456NOOP\r\n');
    expect(await c.reply()).toMatch(/^250 /);
    expect(await c.reply()).toMatch(/^552 5\.3\.4 /);
    expect(await c.reply()).toMatch(/^250 /);
    expect(messages[0]!.toString()).toBe('123456');
  });
});

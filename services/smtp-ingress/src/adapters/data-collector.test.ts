// The collector against a stream shaped like smtp-server's DATA stream (a PassThrough with
// byteLength and sizeExceeded, which smtp-server's SMTPStream sets while it un-stuffs).
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import type { SMTPServerDataStream } from 'smtp-server';
import { collectMessage } from './data-collector.ts';

function dataStream(): SMTPServerDataStream {
  return Object.assign(new PassThrough(), { byteLength: 0, sizeExceeded: false });
}

function send(stream: SMTPServerDataStream, text: string): void {
  stream.byteLength += text.length + 1;
  stream.write(Buffer.from(text));
}

it('hands over the chunks as they came, with their total size', async () => {
  const stream = dataStream();
  const collected = collectMessage(stream);
  send(stream, 'Subject: x\r\n');
  send(stream, '\r\nbody\r\n');
  stream.end();
  const m = await collected;
  expect(m.kind).toBe('complete');
  if (m.kind !== 'complete') return;
  expect(Buffer.concat(m.chunks).toString()).toBe('Subject: x\r\n\r\nbody\r\n');
  expect(m.size).toBe(20);
  expect(m.wireBytes).toBe(22);
});

it('drops what it holds once the size is exceeded and keeps draining', async () => {
  const stream = dataStream();
  const collected = collectMessage(stream);
  send(stream, 'a'.repeat(10));
  stream.sizeExceeded = true;
  send(stream, 'b'.repeat(10));
  stream.end();
  expect(await collected).toEqual({ kind: 'too-big', wireBytes: 22 });
});

it('reports a connection lost before the final dot, once', async () => {
  const stream = dataStream();
  const collected = collectMessage(stream);
  send(stream, 'Subject: half');
  stream.emit('error', new Error('ECONNRESET'));
  stream.destroy();
  expect(await collected).toEqual({ kind: 'aborted', wireBytes: 14 });
});

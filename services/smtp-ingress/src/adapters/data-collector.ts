// The DATA collector: smtp-server's message stream → the bytes the DATA step decides on
// (policy/data-step.ts). smtp-server has already undone the dot-stuffing and counted the
// size against SIZE; this only keeps the chunks, until the size is exceeded.

import type { SMTPServerDataStream } from 'smtp-server';
import type { CollectedMessage } from '../policy/data-step.ts';

/**
 * Settles once the stream ends (`complete`, or `too-big` past the size limit: drained,
 * nothing kept) or the connection closes before the final dot (`aborted`). Never rejects.
 */
export function collectMessage(stream: SMTPServerDataStream): Promise<CollectedMessage> {
  return new Promise<CollectedMessage>((resolve) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    stream.on('data', (chunk: Buffer) => {
      if (stream.sizeExceeded) {
        // Keep draining (the client is still sending) but hold on to nothing.
        if (chunks.length) chunks = [];
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    // A socket error ends in 'close'; the stream's own 'error' must not throw.
    stream.on('error', () => {});
    stream.on('close', () => {
      if (ended) return;
      chunks = [];
      resolve({ kind: 'aborted', wireBytes: stream.byteLength });
    });
    stream.on('end', () => {
      ended = true;
      resolve(stream.sizeExceeded ? { kind: 'too-big', wireBytes: stream.byteLength } : { kind: 'complete', chunks, size, wireBytes: stream.byteLength });
    });
  });
}

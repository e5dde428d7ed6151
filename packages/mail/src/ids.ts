import { v7 } from 'uuid';

/** Time-ordered message id (UUIDv7); also the queue id shown in logs and Received: headers. */
export function newMessageId(): string {
  return v7();
}

export const MESSAGE_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

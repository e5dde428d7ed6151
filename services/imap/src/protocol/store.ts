// What the engine needs from storage. adapters/pg-store.ts implements it on PostgreSQL.
import type { AuthOutcome } from '@hopmail/login';
import type { SearchKey } from './search.ts';

export type { AuthOutcome };

export interface Folder {
  id: string;
  /** Full name, '/' delimited, UTF-8; INBOX is 'INBOX'. */
  name: string;
  specialUse: string | null;
  subscribed: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
}

export interface MessageMeta {
  uid: number;
  flags: string[];
  modseq: number;
  size: number;
  internalDate: Date;
  messageId: string;
}

export interface FolderStatus {
  messages: number;
  unseen: number;
  deleted: number;
  size: number;
}

export interface Changes {
  /** UIDs expunged at a MODSEQ above the one asked for. */
  expunged: number[];
  /** Messages changed or added at a MODSEQ above the one asked for. */
  changed: MessageMeta[];
  highestModseq: number;
  uidNext: number;
}

export type StoreMode = 'set' | 'add' | 'remove';

export interface FetchRows {
  /** The MODSEQ at which \Seen was set, 0 when none changed. */
  modseq: number;
  rows: { meta: MessageMeta; raw: Buffer | null }[];
}

export interface Store {
  authenticate(user: string, password: Buffer, ctx: { remoteIp: string }): Promise<AuthOutcome>;
  folders(mailboxId: string): Promise<Folder[]>;
  folder(mailboxId: string, name: string): Promise<Folder | null>;
  createFolder(mailboxId: string, name: string): Promise<'ok' | 'exists'>;
  deleteFolder(mailboxId: string, name: string): Promise<'ok' | 'nonexistent'>;
  renameFolder(mailboxId: string, from: string, to: string): Promise<'ok' | 'nonexistent' | 'exists'>;
  subscribe(mailboxId: string, name: string, on: boolean): Promise<boolean>;
  status(folderId: string): Promise<FolderStatus>;
  /** UIDs of the folder, ascending. */
  uids(folderId: string): Promise<number[]>;
  /**
   * One FETCH batch in one round trip: with `seen`, \Seen set on these messages (as storeFlags
   * +FLAGS would); then the metadata of those that exist, in UID order, each with its stored
   * bytes when at most `maxBytes` (0: none read; null: larger, so it streams, or not asked).
   */
  fetchBatch(folderId: string, uids: number[], opts: { seen: boolean; maxBytes: number }): Promise<FetchRows>;
  /**
   * Changes of the folder above `modseq`. `wake` (a change notification's key, mailbox and
   * generation) lets every session woken by the same notification share one query: a query
   * started after notification N was received sees everything committed before it.
   */
  changesSince(folderId: string, modseq: number, wake?: string): Promise<Changes>;
  raw(messageId: string): Promise<Buffer | null>;
  /** The stored bytes in chunks (a few round trips, one chunk in memory): exact size first. */
  rawStream(messageId: string): Promise<{ size: number; chunks: AsyncIterable<Buffer> } | null>;
  /** Changes flags; returns the messages whose flags changed (and, with unchangedSince, the UIDs that failed it). */
  storeFlags(folderId: string, uids: number[], mode: StoreMode, flags: string[], unchangedSince: number | null): Promise<{ changed: MessageMeta[]; failed: number[] }>;
  expunge(folderId: string, uids: number[] | null): Promise<number[]>;
  copy(mailboxId: string, from: string, uids: number[], to: string, move: boolean): Promise<{ src: number[]; dst: number[] }>;
  /** Files messages in a folder, all or none (MULTIAPPEND, RFC 3502 §6.3.11); their UIDs in order. */
  append(mailboxId: string, address: string, folderId: string, messages: { raw: Buffer; flags: string[]; date: Date | null }[]): Promise<number[]>;
  search(folderId: string, key: SearchKey): Promise<number[]>;
  /** Raw header block (capped) and metadata of these messages, for SORT. */
  headers(folderId: string, uids: number[]): Promise<{ uid: number; size: number; internalDate: Date; header: Buffer }[]>;
  quota(mailboxId: string): Promise<{ usedBytes: number; limitBytes: number | null; messages: number }>;
}

// Feedback to rspamd's Bayes classifier: the stored message, as received, posted to the
// controller worker's /learnspam or /learnham (https://rspamd.com/doc/developers/protocol.html).
// rspamd keeps its statistics in Redis, shared by every rspamd replica.
import { request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Pool } from '@hopmail/db';

export type Report = 'spam' | 'ham';

export interface SpamTrainer {
  /** Learns the stored message; false when it does not exist. Throws when rspamd failed. */
  learn(id: string, kind: Report): Promise<{ found: false } | { found: true; learned: boolean; message: string }>;
}

export class RspamdTrainerError extends Error {
  override name = 'RspamdTrainerError';
}

export function rspamdTrainer(pool: Pool, options: { controllerUrl: string; password?: string; maxSize: number; timeoutMs: number; ca?: string }): SpamTrainer {
  // An https: URL (rspamd behind a TLS proxy): node:https, verified against the system roots and `ca` (RSPAMD_CA_FILE).
  const secure = new URL(options.controllerUrl).protocol === 'https:';
  const send = secure ? httpsRequest : request;
  const agent = secure ? new HttpsAgent(options.ca ? { ca: options.ca } : {}) : undefined;
  return {
    async learn(id, kind) {
      const r = await pool.query<{ raw: Buffer }>('SELECT substring(raw FROM 1 FOR $2) AS raw FROM messages WHERE id = $1', [id, options.maxSize]);
      const raw = r.rows[0]?.raw;
      if (!raw) return { found: false };
      const url = new URL(kind === 'spam' ? '/learnspam' : '/learnham', options.controllerUrl);
      const headers: Record<string, string> = { 'Content-Length': String(raw.length), 'Queue-Id': id };
      if (options.password) headers.Password = options.password;
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = send(url, { method: 'POST', headers, signal: AbortSignal.timeout(options.timeoutMs), ...(agent ? { agent } : {}) }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 2000) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(raw);
      });
      let json: { success?: unknown; error?: unknown } = {};
      try {
        json = JSON.parse(body) as typeof json;
      } catch {
        // handled below
      }
      if (status === 200 && json.success === true) return { found: true, learned: true, message: `learned as ${kind}` };
      // 208: rspamd already learned this message (as this class); not an error.
      if (status === 208) return { found: true, learned: false, message: typeof json.error === 'string' ? json.error : 'already learned' };
      throw new RspamdTrainerError(`rspamd answered HTTP ${status}: ${typeof json.error === 'string' ? json.error : body.slice(0, 200)}`);
    },
  };
}

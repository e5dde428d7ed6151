// TlsReportStore (src/store.ts) on PostgreSQL: the message's bytes, and the report stored by
// the same function admin-api's POST /tlsrpt uses.
import { saveReceivedTlsReport, type Queryable, type SavedTlsReport } from '@hopmail/db';
import type { ParsedReport } from '@hopmail/mail';
import type { TlsReportStore } from '../store.ts';

export class PgTlsReportStore implements TlsReportStore {
  private readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = db;
  }

  async raw(messageId: string): Promise<Buffer | null> {
    const r = await this.db.query<{ raw: Buffer }>({ text: 'SELECT raw FROM messages WHERE id = $1', values: [messageId] });
    return r.rows[0]?.raw ?? null;
  }

  save(report: ParsedReport): Promise<SavedTlsReport> {
    return saveReceivedTlsReport(this.db, report);
  }
}

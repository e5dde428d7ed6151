// "250 OK" means the message is committed in PostgreSQL. That is only true when a commit
// reaches the disk before PostgreSQL answers it: with fsync off a crash can lose or corrupt
// committed data, with synchronous_commit off the last commits (up to 3 × wal_writer_delay)
// vanish in a crash although the client was told they were safe. Services that hold mail
// check this at start and warn loudly (they still start: a test or a disposable cluster may
// want it off on purpose).
import type { Queryable } from './pool.ts';

export interface DurabilityProblem {
  setting: 'fsync' | 'synchronous_commit' | 'full_page_writes';
  value: string;
  /** What can be lost, for the log line. */
  risk: string;
}

const RISKS: Record<DurabilityProblem['setting'], { bad: (v: string) => boolean; risk: string }> = {
  fsync: { bad: (v) => v === 'off', risk: 'an operating-system crash or power loss can lose or corrupt committed messages' },
  synchronous_commit: { bad: (v) => v === 'off', risk: 'a crash loses the last commits, mail already answered 250' },
  full_page_writes: { bad: (v) => v === 'off', risk: 'a crash during a page write can corrupt the database' },
};

/** The settings of this connection that make a 250 reply a promise PostgreSQL may not keep; [] when all is well. */
export async function durabilityProblems(db: Queryable): Promise<DurabilityProblem[]> {
  const { rows } = await db.query<{ name: DurabilityProblem['setting']; setting: string }>(
    `SELECT name, current_setting(name) AS setting FROM unnest($1::text[]) AS name`,
    [Object.keys(RISKS)],
  );
  return rows.filter((r) => RISKS[r.name].bad(r.setting)).map((r) => ({ setting: r.name, value: r.setting, risk: RISKS[r.name].risk }));
}

-- Flag changes as HOT updates (issue #15).
--
-- Every flag change gave the message a new MODSEQ in mailbox_messages.modseq, which the index
-- (folder_id, modseq) holds for CONDSTORE/QRESYNC's "changed since". So no flag change was a
-- HOT update: each wrote a new row version and an entry in all five indexes, and the churn
-- had PostgreSQL's bottom-up index deletion at work too (a tenth of its CPU in the FETCH
-- cell). \Seen set by FETCH on 2,000 rows, 200 a statement: 25–33 µs a row; as HOT updates
-- (no indexed column changed, room left on the page) 6 µs.
--
-- Now mailbox_messages.modseq is the MODSEQ a message was filed (or last changed before this
-- migration) and stays indexed; a flag change sets flags and flags_modseq, neither indexed,
-- and its MODSEQ is greatest(modseq, flags_modseq). Which messages a statement changed, and at
-- which MODSEQ, goes to imap_flag_changes as one row per statement (not per message): "changed
-- since X" reads the messages filed after X by the modseq index, and those whose flags changed
-- after X through these rows. Rows more than 10,000 MODSEQs behind their folder's newest are
-- deleted now and then, and imap_folders.flag_log_floor says up to where: a "changed since"
-- from before the floor reads the whole folder instead (correct, only slower).
ALTER TABLE mailbox_messages ADD COLUMN flags_modseq bigint;
-- Room on each page for the new row versions of HOT updates (new pages; old ones as they free up).
ALTER TABLE mailbox_messages SET (fillfactor = 85);

ALTER TABLE imap_folders ADD COLUMN flag_log_floor bigint NOT NULL DEFAULT 0;

CREATE TABLE imap_flag_changes (
  folder_id  bigint NOT NULL REFERENCES imap_folders (id) ON DELETE CASCADE,
  modseq     bigint NOT NULL,
  uids       bigint[] NOT NULL,
  PRIMARY KEY (folder_id, modseq)
);

-- IMAP change notifications for flag changes from the folder, not from every changed row
-- (issue #15).
--
-- 0018's AFTER UPDATE trigger on mailbox_messages NOTIFYs `hopmail_imap` with the mailbox id
-- so that other sessions (IDLE, NOOP) re-read their changes. As a statement trigger with a
-- transition table, it had PostgreSQL copy every updated row into a tuple store, and then
-- scanned that store for the mailbox ids: about a third of the cost of a flag update (\Seen set
-- on 1,000 rows in one statement: 11–12 ms without it, 13–19 ms with it). Every flag change
-- takes a new MODSEQ from its folder (RFC 7162; FETCH's \Seen and STORE alike, one per
-- statement), so the folder's row changes once per statement that changed flags: the
-- notification now comes from there, one row trigger call per statement. A delivery, expunge
-- or move that also moves highest_modseq already notifies through the INSERT and DELETE
-- triggers; PostgreSQL folds the identical payloads of one transaction into one notification.
CREATE FUNCTION hopmail_imap_notify_folder() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hopmail_imap', NEW.mailbox_id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER imap_folders_notify AFTER UPDATE OF highest_modseq ON imap_folders
  FOR EACH ROW WHEN (NEW.highest_modseq IS DISTINCT FROM OLD.highest_modseq)
  EXECUTE FUNCTION hopmail_imap_notify_folder();

DROP TRIGGER IF EXISTS mailbox_messages_imap_notify_upd ON mailbox_messages;

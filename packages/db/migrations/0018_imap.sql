-- IMAP (issue #15): folders per mailbox, a UID and flags per message, MODSEQ and an expunge log
-- for CONDSTORE/QRESYNC (RFC 7162).
--
-- Everything that files a message in a mailbox (routing, IMAP APPEND/COPY) inserts into
-- mailbox_messages; the row trigger below puts it in the mailbox's INBOX when no folder is
-- given, and a statement trigger takes the next UIDs and MODSEQ from the folder's row. That row
-- is locked until the inserting transaction commits, so UIDs become visible in ascending order (RFC 9051 §2.3.1.1:
-- a client that has seen UID n never later sees a new message below n), and routing's
-- delivery stays one transaction with no change to its statement.
--
-- Deleting a mailbox_messages row (IMAP EXPUNGE, POP3 DELE+QUIT, the admin API) logs the UID
-- as expunged at a new MODSEQ (QRESYNC VANISHED). Every change NOTIFYs `hopmail_imap` with the
-- mailbox id: delivered only at commit, to every imap replica's listening connection, which
-- wakes that mailbox's IDLE sessions.

CREATE SEQUENCE imap_uidvalidity_seq;

CREATE TABLE imap_folders (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  mailbox_id      bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  -- Full hierarchical name, '/' as the delimiter, UTF-8 (RFC 9051 §5.1). INBOX is always 'INBOX'.
  name            text NOT NULL CHECK (name <> '' AND length(name) <= 1000),
  special_use     text CHECK (special_use IN ('\Sent', '\Drafts', '\Trash', '\Junk', '\Archive')),
  subscribed      boolean NOT NULL DEFAULT true,
  -- A new value for every folder ever created, so a deleted and re-created name never reuses one.
  uid_validity    bigint NOT NULL DEFAULT nextval('imap_uidvalidity_seq') CHECK (uid_validity BETWEEN 1 AND 4294967295),
  uid_next        bigint NOT NULL DEFAULT 1 CHECK (uid_next BETWEEN 1 AND 4294967296),
  highest_modseq  bigint NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (mailbox_id, name)
);

CREATE TABLE imap_expunged (
  folder_id  bigint NOT NULL, -- no FK: rows of a deleted folder are removed with it by the imap service
  uid        bigint NOT NULL,
  modseq     bigint NOT NULL,
  PRIMARY KEY (folder_id, uid)
);
CREATE INDEX imap_expunged_modseq ON imap_expunged (folder_id, modseq);

ALTER TABLE mailbox_messages
  ADD COLUMN folder_id bigint REFERENCES imap_folders (id) ON DELETE CASCADE,
  ADD COLUMN uid bigint,
  ADD COLUMN modseq bigint,
  -- System flags (\Seen, \Answered, \Flagged, \Deleted, \Draft) and keywords, as sent.
  ADD COLUMN flags text[] NOT NULL DEFAULT '{}';

CREATE FUNCTION hopmail_imap_default_folders(mb bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO imap_folders (mailbox_id, name, special_use)
  VALUES (mb, 'INBOX', NULL), (mb, 'Sent', '\Sent'), (mb, 'Drafts', '\Drafts'), (mb, 'Trash', '\Trash'),
         (mb, 'Junk', '\Junk'), (mb, 'Archive', '\Archive')
  ON CONFLICT (mailbox_id, name) DO NOTHING
$$;

SELECT hopmail_imap_default_folders(id) FROM mailboxes ORDER BY id;

-- Existing mail lands in INBOX, UIDs in delivery order.
UPDATE mailbox_messages mm SET folder_id = f.id, uid = n.rn, modseq = 1
  FROM (SELECT id, mailbox_id, row_number() OVER (PARTITION BY mailbox_id ORDER BY id) AS rn FROM mailbox_messages) n,
       imap_folders f
 WHERE mm.id = n.id AND f.mailbox_id = n.mailbox_id AND f.name = 'INBOX';
UPDATE imap_folders f SET uid_next = c.n + 1
  FROM (SELECT folder_id, max(uid) AS n FROM mailbox_messages GROUP BY folder_id) c
 WHERE f.id = c.folder_id;

-- uid and modseq stay nullable: the numbering trigger fills them in after the INSERT statement.
ALTER TABLE mailbox_messages ALTER COLUMN folder_id SET NOT NULL;

-- The same message may now sit in two folders of one mailbox (IMAP COPY). Routing's idempotency
-- rests on (mailbox_id, uidl), which stays unique: a redelivered job conflicts on it even after
-- the user moved the message out of INBOX. Copies get their own uidl.
ALTER TABLE mailbox_messages DROP CONSTRAINT mailbox_messages_mailbox_id_message_id_key;
CREATE INDEX mailbox_messages_mailbox_message ON mailbox_messages (mailbox_id, message_id);
CREATE UNIQUE INDEX mailbox_messages_folder_uid ON mailbox_messages (folder_id, uid);
CREATE INDEX mailbox_messages_folder_modseq ON mailbox_messages (folder_id, modseq);

CREATE FUNCTION hopmail_imap_mailbox_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM hopmail_imap_default_folders(NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER mailboxes_imap_folders AFTER INSERT ON mailboxes FOR EACH ROW EXECUTE FUNCTION hopmail_imap_mailbox_created();

-- A row inserted without a folder goes to its mailbox's INBOX (a read, no lock).
CREATE FUNCTION hopmail_imap_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.folder_id IS NULL THEN
    SELECT id INTO NEW.folder_id FROM imap_folders WHERE mailbox_id = NEW.mailbox_id AND name = 'INBOX';
    IF NEW.folder_id IS NULL THEN
      PERFORM hopmail_imap_default_folders(NEW.mailbox_id);
      SELECT id INTO NEW.folder_id FROM imap_folders WHERE mailbox_id = NEW.mailbox_id AND name = 'INBOX';
    END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER mailbox_messages_imap_ins BEFORE INSERT ON mailbox_messages FOR EACH ROW EXECUTE FUNCTION hopmail_imap_before_insert();

-- UIDs and MODSEQs are numbered per statement, after it, with the folder rows locked in id
-- order: two statements filing into the same folders in opposite orders cannot deadlock (as
-- with 0009's usage counters, whose trigger fires after this one, also in id order). The rows
-- carry a NULL uid only inside the inserting statement; nobody else ever sees one. One MODSEQ
-- per folder per statement. RETURNING of the INSERT itself still shows the NULL: callers that
-- need the UID read it back by row id.
CREATE FUNCTION hopmail_imap_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM imap_folders WHERE id IN (SELECT folder_id FROM ev_new) ORDER BY id FOR NO KEY UPDATE;
  WITH c AS (SELECT folder_id, count(*) AS n FROM ev_new WHERE uid IS NULL GROUP BY folder_id),
       f AS (UPDATE imap_folders f SET uid_next = f.uid_next + c.n, highest_modseq = f.highest_modseq + 1
               FROM c WHERE f.id = c.folder_id
             RETURNING f.id, f.uid_next - c.n AS first_uid, f.highest_modseq),
       r AS (SELECT id, folder_id, row_number() OVER (PARTITION BY folder_id ORDER BY id) AS rn FROM ev_new WHERE uid IS NULL)
  UPDATE mailbox_messages m SET uid = f.first_uid + r.rn - 1, modseq = f.highest_modseq
    FROM r JOIN f ON f.id = r.folder_id
   WHERE m.id = r.id;
  RETURN NULL;
END $$;
CREATE TRIGGER mailbox_messages_imap_number AFTER INSERT ON mailbox_messages REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_imap_number();

-- Expunges: one new MODSEQ per folder per statement, folders locked in id order.
CREATE FUNCTION hopmail_imap_expunged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM imap_folders WHERE id IN (SELECT folder_id FROM ev_old) ORDER BY id FOR NO KEY UPDATE;
  WITH f AS (
    UPDATE imap_folders SET highest_modseq = highest_modseq + 1
     WHERE id IN (SELECT folder_id FROM ev_old) RETURNING id, highest_modseq
  )
  INSERT INTO imap_expunged (folder_id, uid, modseq)
  SELECT o.folder_id, o.uid, f.highest_modseq FROM ev_old o JOIN f ON f.id = o.folder_id WHERE o.uid IS NOT NULL
  ON CONFLICT (folder_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq;
  RETURN NULL;
END $$;
CREATE TRIGGER mailbox_messages_imap_expunged AFTER DELETE ON mailbox_messages REFERENCING OLD TABLE AS ev_old
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_imap_expunged();

-- One notification per mailbox per transaction (PostgreSQL folds identical payloads).
CREATE FUNCTION hopmail_imap_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF TG_OP = 'DELETE' THEN
    FOR r IN SELECT DISTINCT mailbox_id FROM ev_old LOOP PERFORM pg_notify('hopmail_imap', r.mailbox_id::text); END LOOP;
  ELSE
    FOR r IN SELECT DISTINCT mailbox_id FROM ev_new LOOP PERFORM pg_notify('hopmail_imap', r.mailbox_id::text); END LOOP;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER mailbox_messages_imap_notify_ins AFTER INSERT ON mailbox_messages REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_imap_notify();
CREATE TRIGGER mailbox_messages_imap_notify_upd AFTER UPDATE ON mailbox_messages REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_imap_notify();
CREATE TRIGGER mailbox_messages_imap_notify_del AFTER DELETE ON mailbox_messages REFERENCING OLD TABLE AS ev_old
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_imap_notify();

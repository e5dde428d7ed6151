-- Routing numbers the copies it delivers in its own statement (issue #17: the delivery path's
-- cost in PostgreSQL).
--
-- 0018's AFTER INSERT trigger gave a new mailbox_messages row its IMAP UID and MODSEQ by
-- updating it after the INSERT statement. Every delivered copy was therefore written twice:
-- a second row version, its six index entries again (uid and modseq are indexed, so the
-- update is never HOT), the three foreign keys checked again (a row inserted in the same
-- transaction is always re-checked), and a dead row left for VACUUM. Routing's write now
-- locks the target folders in id order, takes the UIDs and one MODSEQ per folder, and inserts
-- the copies numbered (services/routing/src/adapters/pg-store.ts).
--
-- The trigger stays for every other writer (IMAP APPEND, COPY, MOVE, and anything that
-- inserts without a UID); it now does nothing for a statement whose rows all came numbered.
-- Which folder a delivered copy goes to (\Junk when the spam checks flagged the message,
-- else INBOX) is one function, used by both.

-- Whether a delivered copy of a message goes to \Junk (0025's rule): smtp-ingress's decision,
-- or, for a message that does not say, rspamd's action or X-Spam-Flag: YES in its header. A
-- plain expression, so PostgreSQL inlines it and the stored message is read only when `junk`
-- is NULL.
CREATE FUNCTION hopmail_delivery_junk(junk boolean, spam jsonb, raw bytea) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(junk, spam->>'action' IN ('add header', 'rewrite subject') OR hopmail_search_head(raw) ~ '(^|\n)x-spam-flag[ \t]*:[ \t]*yes\M')
$$;

CREATE OR REPLACE FUNCTION hopmail_imap_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_search_pending (message_id) VALUES (NEW.message_id) ON CONFLICT DO NOTHING;
  IF NEW.folder_id IS NULL AND EXISTS (SELECT 1 FROM messages WHERE id = NEW.message_id AND hopmail_delivery_junk(junk, spam, raw)) THEN
    SELECT id INTO NEW.folder_id FROM imap_folders WHERE mailbox_id = NEW.mailbox_id AND special_use = '\Junk' ORDER BY id LIMIT 1;
  END IF;
  IF NEW.folder_id IS NULL THEN
    SELECT id INTO NEW.folder_id FROM imap_folders WHERE mailbox_id = NEW.mailbox_id AND name = 'INBOX';
    IF NEW.folder_id IS NULL THEN
      PERFORM hopmail_imap_default_folders(NEW.mailbox_id);
      SELECT id INTO NEW.folder_id FROM imap_folders WHERE mailbox_id = NEW.mailbox_id AND name = 'INBOX';
    END IF;
  END IF;
  RETURN NEW;
END $$;

-- 0018's numbering, unchanged, for rows that come without a UID.
CREATE OR REPLACE FUNCTION hopmail_imap_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ev_new WHERE uid IS NULL) THEN
    RETURN NULL;
  END IF;
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

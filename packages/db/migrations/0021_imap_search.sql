-- IMAP SEARCH from an index (issue #15), and spam delivered to Junk.
--
-- message_search holds, per stored message filed in some mailbox, the text SEARCH compares
-- (RFC 9051 §6.4.4: case-insensitive substring): the header block unfolded and the body, both
-- as Latin-1 (every octet one character, so any message converts and a UTF-8 search string
-- matches its octets) with ASCII letters lower-cased (only those: folding the Latin-1 reading of
-- a UTF-8 lead octet would turn it into another character's), with trigram GIN indexes (pg_trgm) so a header, BODY or
-- TEXT search reads the few candidate rows the index gives instead of every message. It is
-- filled off the delivery path: filing a message in a mailbox (the BEFORE INSERT trigger below:
-- routing's delivery, IMAP APPEND) only queues its id in message_search_pending (trigram
-- extraction in the delivery transaction halved the whole path's throughput, and cut it to a
-- fifth for 100 KiB messages); the imap service's indexer drains that queue in batches, and a
-- SEARCH first indexes what is still pending in its folder, so results never miss a message.
--
-- The body is indexed up to its first 1 MiB (attachments beyond that would only grow the index);
-- a longer message has body_complete = false and SEARCH falls back to its stored bytes (a partial
-- index finds those few rows), so results stay exact.
--
-- sent_on is the date of the Date: field, for SENTBEFORE/SENTON/SENTSINCE (RFC 9051 §6.4.4:
-- "disregarding time and timezone"); the received date when the field is missing or unreadable.
--
-- pg_trgm ships with PostgreSQL (Debian: postgresql-15) and is a trusted extension: the
-- database's owner may create it, no superuser needed (see docs/OPERATIONS.md).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION hopmail_search_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT translate(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;

CREATE FUNCTION hopmail_search_head(raw bytea) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hopmail_search_fold(regexp_replace(convert_from(substring(raw FOR coalesce(nullif(position('\x0d0a0d0a'::bytea IN raw), 0) + 3, octet_length(raw))), 'LATIN1'), '\r?\n[ \t]+', ' ', 'g'))
$$;

-- The body's first 1 MiB (the octets after the first empty line; none when there is none).
CREATE FUNCTION hopmail_search_body(raw bytea) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hopmail_search_fold(convert_from(substring(raw FROM coalesce(nullif(position('\x0d0a0d0a'::bytea IN raw), 0) + 4, octet_length(raw) + 1) FOR 1048576), 'LATIN1'))
$$;

CREATE FUNCTION hopmail_search_body_complete(raw bytea) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT octet_length(raw) - coalesce(nullif(position('\x0d0a0d0a'::bytea IN raw), 0) + 3, octet_length(raw)) <= 1048576
$$;

-- [day-of-week ","] day month year (RFC 5322 §3.3, with its obsolete two- and three-digit years).
CREATE FUNCTION hopmail_search_sent_on(head text) RETURNS date LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  m text[];
  y int;
  mon int;
  d date;
BEGIN
  m := regexp_match(head, '(?:^|\n)date[ \t]*:[ \t]*(?:[a-z]+[ \t]*,[ \t]*)?(\d{1,2})[ \t]+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[ \t]+(\d{2,4})(?:[^0-9]|$)');
  IF m IS NULL THEN RETURN NULL; END IF;
  y := m[3]::int;
  IF length(m[3]) = 2 THEN y := y + CASE WHEN y < 50 THEN 2000 ELSE 1900 END;
  ELSIF length(m[3]) = 3 THEN y := y + 1900;
  END IF;
  IF y < 1 THEN RETURN NULL; END IF;
  mon := (position(m[2] IN 'janfebmaraprmayjunjulaugsepoctnovdec') + 2) / 3;
  d := make_date(y, mon, 1) + (m[1]::int - 1);
  -- 31 Feb is no date: no day overflows into the next month.
  IF m[1]::int < 1 OR extract(month FROM d) <> mon THEN RETURN NULL; END IF;
  RETURN d;
END $$;

CREATE TABLE message_search (
  message_id     uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
  head           text NOT NULL,
  body           text NOT NULL,
  body_complete  boolean NOT NULL,
  sent_on        date NOT NULL
);

CREATE FUNCTION hopmail_search_index(id uuid) RETURNS void LANGUAGE sql AS $$
  INSERT INTO message_search (message_id, head, body, body_complete, sent_on)
  SELECT m.id, h.head, hopmail_search_body(m.raw), hopmail_search_body_complete(m.raw),
         coalesce(hopmail_search_sent_on(h.head), (m.received_at AT TIME ZONE 'UTC')::date)
    FROM messages m CROSS JOIN LATERAL (SELECT hopmail_search_head(m.raw) AS head) h
   WHERE m.id = $1 AND NOT EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = $1)
  ON CONFLICT (message_id) DO NOTHING
$$;

-- Messages filed but not yet indexed. The mail that exists is queued here too, so the migration
-- stays quick on a large store; the indexer works through it.
-- No foreign key: its check would lock the message row in every delivery; an id whose message
-- is gone indexes nothing and leaves the queue like any other.
CREATE TABLE message_search_pending (
  message_id  uuid PRIMARY KEY
);
INSERT INTO message_search_pending (message_id) SELECT DISTINCT message_id FROM mailbox_messages ON CONFLICT DO NOTHING;

CREATE INDEX message_search_head ON message_search USING gin (head gin_trgm_ops);
CREATE INDEX message_search_body ON message_search USING gin (body gin_trgm_ops);
CREATE INDEX message_search_incomplete ON message_search (message_id) WHERE NOT body_complete;

-- Replaces 0018's: indexes the message, and a message without a folder (routing's delivery)
-- goes to the mailbox's \Junk folder when the spam checks flagged it — rspamd's "add header" or
-- "rewrite subject" (migration 0016), or X-Spam-Flag: YES on top (DMARC quarantine, 0015) — and
-- to INBOX otherwise. POP3 reads INBOX only, so it does not see Junk.
CREATE OR REPLACE FUNCTION hopmail_imap_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_search_pending (message_id) VALUES (NEW.message_id) ON CONFLICT DO NOTHING;
  IF NEW.folder_id IS NULL AND EXISTS (
       SELECT 1 FROM messages WHERE id = NEW.message_id
          AND (spam->>'action' IN ('add header', 'rewrite subject') OR hopmail_search_head(raw) ~ '(^|\n)x-spam-flag[ \t]*:[ \t]*yes\M')) THEN
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

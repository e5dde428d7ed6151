-- Trigger queries planned once per connection again, with plans that stay right as the tables
-- grow (issue #17: the delivery path's cost in PostgreSQL).
--
-- 0006 and 0009 run the trigger queries that join a transition table to a real table
-- (recipients, mailboxes) through EXECUTE, so that a plan made while the tables were small (a
-- sequential scan) is not kept for the life of the connection. But EXECUTE parses, analyses
-- and plans the query on every statement that fires the trigger: a tenth of a millisecond
-- or more each, four times for each batch routing delivers, once for every batch smtp-ingress
-- commits (recipients inserted 'queued', where the query then finds nothing to write).
--
-- Now the queries are static again, so PL/pgSQL prepares each once per connection, and each
-- function runs with sequential scans, hash joins and merge joins switched off: the only plan
-- left for "these few rows of a transition table, joined by primary key" is a nested loop of
-- index lookups, which is the right plan at any table size, with or without statistics.
-- (The settings are the function's own and end with its call.) A trigger with nothing to
-- write returns before any query on a real table. The events and counters written are those
-- of 0006 and 0009, unchanged; packages/db's trigger-plans test checks the index use after
-- growth.

CREATE OR REPLACE FUNCTION hopmail_ev_recipients_ins() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
  -- Rows inserted 'queued' (every message smtp-ingress commits) have no event.
  IF NOT EXISTS (SELECT 1 FROM ev_new WHERE status <> 'queued') THEN
    RETURN NULL;
  END IF;
  INSERT INTO message_events (message_id, recipient, type, data)
  SELECT n.message_id, n.address, CASE WHEN n.status IN ('bounced', 'failed') THEN 'bounced' ELSE 'routed' END,
         jsonb_strip_nulls(jsonb_build_object('status', n.status, 'domain', n.domain, 'via', p.address, 'reply', n.last_reply))
    FROM ev_new n LEFT JOIN recipients p ON p.id = n.original_id
   WHERE n.status <> 'queued';
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION hopmail_ev_mailbox_messages() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
  actor text := nullif(current_setting('hopmail.actor', true), '');
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO message_events (message_id, recipient, type, data)
    SELECT n.message_id, r.address, 'delivered-mailbox', jsonb_strip_nulls(jsonb_build_object('mailbox', m.address, 'uidl', n.uidl, 'size', n.size))
      FROM ev_new n LEFT JOIN mailboxes m ON m.id = n.mailbox_id LEFT JOIN recipients r ON r.id = n.recipient_id;
  ELSE
    -- pop3 deletes without setting hopmail.actor; admin-api sets it (SET LOCAL) when a mailbox
    -- or domain deletion cascades here.
    INSERT INTO message_events (message_id, type, actor, data)
    SELECT o.message_id, CASE WHEN actor IS NULL THEN 'deleted-by-pop3' ELSE 'admin-action' END, actor,
           jsonb_strip_nulls(jsonb_build_object('action', CASE WHEN actor IS NULL THEN NULL ELSE 'mailbox-message-deleted' END,
                                                'mailbox', m.address, 'mailboxId', o.mailbox_id, 'uidl', o.uidl))
      FROM ev_old o LEFT JOIN mailboxes m ON m.id = o.mailbox_id;
  END IF;
  RETURN NULL;
END $$;

-- 0009's counters: the mailboxes locked in id order first, then one update per mailbox.
CREATE OR REPLACE FUNCTION hopmail_mailbox_usage() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM 1 FROM mailboxes WHERE id IN (SELECT mailbox_id FROM ev_new) ORDER BY id FOR NO KEY UPDATE;
    UPDATE mailboxes m SET used_bytes = m.used_bytes + d.bytes, message_count = m.message_count + d.n
      FROM (SELECT mailbox_id, sum(size)::bigint AS bytes, count(*)::int AS n FROM ev_new GROUP BY mailbox_id) d
     WHERE m.id = d.mailbox_id;
  ELSE
    PERFORM 1 FROM mailboxes WHERE id IN (SELECT mailbox_id FROM ev_old) ORDER BY id FOR NO KEY UPDATE;
    UPDATE mailboxes m SET used_bytes = m.used_bytes - d.bytes, message_count = m.message_count - d.n
      FROM (SELECT mailbox_id, sum(size)::bigint AS bytes, count(*)::int AS n FROM ev_old GROUP BY mailbox_id) d
     WHERE m.id = d.mailbox_id;
  END IF;
  RETURN NULL;
END $$;

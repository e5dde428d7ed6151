-- Mailbox usage kept as counters on the mailbox row. The quota check used to sum the sizes of
-- every message in the mailbox at each delivery (O(messages in the mailbox), under the
-- mailbox's row lock): a mailbox with a quota and 100,000 messages took 100,000 rows to add
-- one. Statement-level triggers on mailbox_messages add and subtract per statement, grouped
-- by mailbox, so a batch of deliveries updates each mailbox once. Rows are locked in id
-- order first, so two statements touching the same mailboxes cannot deadlock. The queries
-- run through EXECUTE, planned per run (see 0006).
ALTER TABLE mailboxes
  ADD COLUMN used_bytes bigint NOT NULL DEFAULT 0,
  ADD COLUMN message_count integer NOT NULL DEFAULT 0;

UPDATE mailboxes m SET used_bytes = u.bytes, message_count = u.n
  FROM (SELECT mailbox_id, sum(size)::bigint AS bytes, count(*)::int AS n FROM mailbox_messages GROUP BY mailbox_id) u
 WHERE m.id = u.mailbox_id;

CREATE FUNCTION hopmail_mailbox_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tbl text := CASE WHEN TG_OP = 'INSERT' THEN 'ev_new' ELSE 'ev_old' END;
  sign int := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
  EXECUTE format('SELECT 1 FROM mailboxes WHERE id IN (SELECT mailbox_id FROM %I) ORDER BY id FOR NO KEY UPDATE', tbl);
  EXECUTE format(
    $q$UPDATE mailboxes m SET used_bytes = m.used_bytes + $1 * d.bytes, message_count = m.message_count + $1 * d.n
         FROM (SELECT mailbox_id, sum(size)::bigint AS bytes, count(*)::int AS n FROM %I GROUP BY mailbox_id) d
        WHERE m.id = d.mailbox_id$q$, tbl) USING sign;
  RETURN NULL;
END $$;

CREATE TRIGGER mailbox_messages_usage_ins AFTER INSERT ON mailbox_messages REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_mailbox_usage();
CREATE TRIGGER mailbox_messages_usage_del AFTER DELETE ON mailbox_messages REFERENCING OLD TABLE AS ev_old
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_mailbox_usage();

-- The statement-level trace triggers that join a transition table to a real table
-- (recipients, mailboxes) run that query through EXECUTE. A static query in PL/pgSQL has no
-- parameters, so its plan is cached for the life of the connection whatever
-- plan_cache_mode says: planned while the tables were small (a new installation, a burst
-- after start), it kept a sequential scan of `recipients` and made every later delivery
-- cost a scan of the whole table. EXECUTE plans each run with the tables' current size:
-- one plan per statement (the triggers are per statement, so per batch), index lookups.
-- The events written are exactly those of 0005.

CREATE OR REPLACE FUNCTION hopmail_ev_recipients_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE $q$
    INSERT INTO message_events (message_id, recipient, type, data)
    SELECT n.message_id, n.address, CASE WHEN n.status IN ('bounced', 'failed') THEN 'bounced' ELSE 'routed' END,
           jsonb_strip_nulls(jsonb_build_object('status', n.status, 'domain', n.domain, 'via', p.address, 'reply', n.last_reply))
      FROM ev_new n LEFT JOIN recipients p ON p.id = n.original_id
     WHERE n.status <> 'queued'$q$;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION hopmail_ev_mailbox_messages() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  actor text := nullif(current_setting('hopmail.actor', true), '');
BEGIN
  IF TG_OP = 'INSERT' THEN
    EXECUTE $q$
      INSERT INTO message_events (message_id, recipient, type, data)
      SELECT n.message_id, r.address, 'delivered-mailbox', jsonb_strip_nulls(jsonb_build_object('mailbox', m.address, 'uidl', n.uidl, 'size', n.size))
        FROM ev_new n LEFT JOIN mailboxes m ON m.id = n.mailbox_id LEFT JOIN recipients r ON r.id = n.recipient_id$q$;
  ELSE
    -- pop3 deletes without setting hopmail.actor; admin-api sets it (SET LOCAL) when a mailbox
    -- or domain deletion cascades here.
    EXECUTE $q$
      INSERT INTO message_events (message_id, type, actor, data)
      SELECT o.message_id, CASE WHEN $1::text IS NULL THEN 'deleted-by-pop3' ELSE 'admin-action' END, $1::text,
             jsonb_strip_nulls(jsonb_build_object('action', CASE WHEN $1::text IS NULL THEN NULL ELSE 'mailbox-message-deleted' END,
                                                  'mailbox', m.address, 'mailboxId', o.mailbox_id, 'uidl', o.uidl))
        FROM ev_old o LEFT JOIN mailboxes m ON m.id = o.mailbox_id$q$ USING actor;
  END IF;
  RETURN NULL;
END $$;

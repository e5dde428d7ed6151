-- Operations (issue 6): message trace, held recipients, API keys, audit log, webhooks.
--
-- The trace is written by triggers in the writers' own transactions: a received event in the
-- statement that commits a message (smtp-ingress's insertMessage, DSNs), routed / delivered /
-- deferred / bounced / DSN / delay-warning events in the statements that change recipients,
-- one relay-attempt event per finished attempt, delivered-to-mailbox and POP3 deletions from
-- mailbox_messages. Statement-level triggers with transition tables: one INSERT … SELECT per
-- writing statement whatever its row count, no extra round trip, and no writer can forget to
-- log. Services add what the database cannot see with recordEvent() (packages/events).

-- 'held': an operator stopped delivery. The relay selects only 'relay'/'deferred' and routing
-- only 'queued'/'relay', so held rows are left alone until released.
ALTER TABLE recipients DROP CONSTRAINT recipients_status_check;
ALTER TABLE recipients ADD CONSTRAINT recipients_status_check
  CHECK (status IN ('queued', 'delivered', 'expanded', 'relay', 'deferred', 'bounced', 'failed', 'held')) NOT VALID;
ALTER TABLE recipients VALIDATE CONSTRAINT recipients_status_check;
CREATE INDEX recipients_held_idx ON recipients (created_at) WHERE status = 'held';
CREATE INDEX recipients_domain_status_idx ON recipients (lower(domain), status) WHERE status IN ('relay', 'deferred', 'held');
CREATE INDEX messages_header_message_id_idx ON messages (header_message_id) WHERE header_message_id IS NOT NULL;
CREATE INDEX messages_mail_from_idx ON messages (lower(mail_from));
CREATE INDEX recipients_address_idx ON recipients (lower(address));

-- Append-only. No foreign key to messages: inserting stays cheap and the trace outlives the
-- message. txid orders events for the stream publisher (see packages/events/src/outbox.ts):
-- every event of a transaction id below the oldest running transaction is committed.
CREATE TABLE message_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id  uuid NOT NULL,
  recipient   text,
  type        text NOT NULL CHECK (type IN ('received', 'routed', 'delivered-mailbox', 'delivered', 'relay-attempt', 'deferred',
                                            'bounced', 'dsn-sent', 'delay-warning', 'deleted-by-pop3', 'admin-action')),
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  service     text,
  actor       text,
  data        jsonb NOT NULL DEFAULT '{}',
  txid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX message_events_message_idx ON message_events (message_id, at, id);
CREATE INDEX message_events_at_idx ON message_events USING brin (at);
CREATE INDEX message_events_outbox_idx ON message_events (txid, id)
  WHERE type IN ('received', 'delivered-mailbox', 'delivered', 'deferred', 'bounced', 'delay-warning');

-- Where the stream publisher has got to (one row).
CREATE TABLE event_stream_cursor (
  id        integer PRIMARY KEY CHECK (id = 1),
  txid      xid8 NOT NULL,
  event_id  bigint NOT NULL
);
INSERT INTO event_stream_cursor VALUES (1, '0', 0);

CREATE FUNCTION hopmail_ev_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_events (message_id, type, at, data)
  SELECT n.id, 'received', n.received_at,
         jsonb_strip_nulls(jsonb_build_object('sender', n.mail_from, 'size', n.size, 'clientIp', n.client_ip, 'helo', n.client_helo,
                                              'authUser', n.auth_user, 'tls', n.tls, 'headerMessageId', n.header_message_id))
    FROM ev_new n;
  RETURN NULL;
END $$;
CREATE TRIGGER messages_events AFTER INSERT ON messages REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_ev_messages();

-- Rows inserted already decided: alias expansion children (relay, bounced).
CREATE FUNCTION hopmail_ev_recipients_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_events (message_id, recipient, type, data)
  SELECT n.message_id, n.address, CASE WHEN n.status IN ('bounced', 'failed') THEN 'bounced' ELSE 'routed' END,
         jsonb_strip_nulls(jsonb_build_object('status', n.status, 'domain', n.domain, 'via', p.address, 'reply', n.last_reply))
    FROM ev_new n LEFT JOIN recipients p ON p.id = n.original_id
   WHERE n.status <> 'queued';
  RETURN NULL;
END $$;
CREATE TRIGGER recipients_events_ins AFTER INSERT ON recipients REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_ev_recipients_ins();

-- Status changes, another deferral, DSNs and delay warnings. Entering or leaving 'held' is an
-- operator's doing and is logged by admin-api as an admin-action instead.
CREATE FUNCTION hopmail_ev_recipients_upd() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- The DSN sender may name the DSN it queued (SET LOCAL hopmail.dsn_id) so the trace links it.
  dsn_id text := nullif(current_setting('hopmail.dsn_id', true), '');
BEGIN
  INSERT INTO message_events (message_id, recipient, type, data)
  SELECT e.message_id, e.address, e.type, e.data FROM (
    SELECT n.message_id, n.address,
           CASE WHEN o.status = 'queued' AND n.status IN ('delivered', 'expanded', 'relay') THEN 'routed'
                WHEN n.status = 'delivered' THEN 'delivered'
                WHEN n.status = 'deferred' THEN 'deferred'
                WHEN n.status IN ('bounced', 'failed') THEN 'bounced'
                WHEN n.status = 'relay' THEN 'routed'
           END AS type,
           jsonb_strip_nulls(jsonb_build_object('status', n.status, 'previous', o.status, 'domain', n.domain, 'reply', n.last_reply,
                                                'mx', n.last_mx, 'attempts', n.attempts, 'nextAttemptAt', n.next_attempt_at)) AS data
      FROM ev_new n JOIN ev_old o ON o.id = n.id
     WHERE (n.status IS DISTINCT FROM o.status OR (n.status = 'deferred' AND n.attempts <> o.attempts))
       AND n.status <> 'held' AND NOT (o.status = 'held' AND n.status IN ('relay', 'deferred', 'queued'))
    UNION ALL
    SELECT n.message_id, n.address, 'dsn-sent', jsonb_strip_nulls(jsonb_build_object('action', 'failed', 'suppressed', n.status = 'failed', 'dsnMessageId', dsn_id))
      FROM ev_new n JOIN ev_old o ON o.id = n.id
     WHERE o.dsn_sent_at IS NULL AND n.dsn_sent_at IS NOT NULL
    UNION ALL
    SELECT n.message_id, n.address, 'delay-warning', jsonb_strip_nulls(jsonb_build_object('reply', n.last_reply, 'nextAttemptAt', n.next_attempt_at, 'dsnMessageId', dsn_id))
      FROM ev_new n JOIN ev_old o ON o.id = n.id
     WHERE o.delay_warned_at IS NULL AND n.delay_warned_at IS NOT NULL
  ) e WHERE e.type IS NOT NULL;
  RETURN NULL;
END $$;
CREATE TRIGGER recipients_events_upd AFTER UPDATE ON recipients REFERENCING OLD TABLE AS ev_old NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_ev_recipients_upd();

-- One event per finished attempt (an attempt row is written 'in-progress' before DATA), dated
-- when the attempt started so that it sorts before the recipient outcomes it led to.
CREATE FUNCTION hopmail_ev_relay_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO message_events (message_id, type, at, data)
    SELECT n.message_id, 'relay-attempt', n.started_at, jsonb_strip_nulls(jsonb_build_object('attemptId', n.id, 'domain', n.domain, 'mx', n.mx_host, 'ip', n.ip, 'port', n.port,
             'tls', n.tls, 'outcome', n.outcome, 'reply', n.remote_reply, 'recipients', n.recipients, 'finishedAt', coalesce(n.finished_at, now())))
      FROM ev_new n WHERE n.outcome <> 'in-progress';
  ELSE
    INSERT INTO message_events (message_id, type, at, data)
    SELECT n.message_id, 'relay-attempt', n.started_at, jsonb_strip_nulls(jsonb_build_object('attemptId', n.id, 'domain', n.domain, 'mx', n.mx_host, 'ip', n.ip, 'port', n.port,
             'tls', n.tls, 'outcome', n.outcome, 'reply', n.remote_reply, 'recipients', n.recipients, 'finishedAt', coalesce(n.finished_at, now())))
      FROM ev_new n JOIN ev_old o ON o.id = n.id
     WHERE o.outcome = 'in-progress' AND n.outcome <> 'in-progress';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER relay_attempts_events_ins AFTER INSERT ON relay_attempts REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_ev_relay_attempts();
CREATE TRIGGER relay_attempts_events_upd AFTER UPDATE ON relay_attempts REFERENCING OLD TABLE AS ev_old NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_ev_relay_attempts();

CREATE FUNCTION hopmail_ev_mailbox_messages() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER mailbox_messages_events_ins AFTER INSERT ON mailbox_messages REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_ev_mailbox_messages();
CREATE TRIGGER mailbox_messages_events_del AFTER DELETE ON mailbox_messages REFERENCING OLD TABLE AS ev_old
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_ev_mailbox_messages();

-- API keys: only the SHA-256 of the key is stored. Keys are 256 random bits, so a fast hash is
-- as safe as a slow one (nothing to brute-force) and lets every request be one index lookup.
CREATE TABLE api_keys (
  id            uuid PRIMARY KEY,
  name          text NOT NULL,
  key_hash      bytea NOT NULL,
  key_prefix    text NOT NULL,
  scope         text NOT NULL CHECK (scope IN ('admin', 'read-only', 'domain-admin')),
  domains       text[] NOT NULL DEFAULT '{}',
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  CHECK (scope <> 'domain-admin' OR cardinality(domains) > 0)
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);

CREATE TABLE audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  key_id      uuid,
  action      text NOT NULL,
  target      text,
  status      integer NOT NULL,
  request_id  text,
  remote_ip   text,
  details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log USING brin (at);

CREATE TABLE webhooks (
  id               uuid PRIMARY KEY,
  url              text NOT NULL,
  secret           text NOT NULL,
  event_types      text[] NOT NULL CHECK (cardinality(event_types) > 0),
  description      text NOT NULL DEFAULT '',
  enabled          boolean NOT NULL DEFAULT true,
  disabled_reason  text,
  failures         integer NOT NULL DEFAULT 0,    -- consecutive failed deliveries
  last_success_at  timestamptz,
  last_failure_at  timestamptz,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per (webhook, event): the unique key makes re-reading the stream harmless.
CREATE TABLE webhook_deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id         bigint NOT NULL,
  event_type       text NOT NULL,
  payload          jsonb NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Core store: domains, mailboxes, aliases, messages, per-recipient state, mailbox contents.
-- Addresses are compared case-insensitively for uniqueness; the services decide whether a
-- lookup honours local-part case (LOCAL_PART_CASE_SENSITIVE).

CREATE TABLE domains (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL,
  kind        text NOT NULL DEFAULT 'local' CHECK (kind IN ('local', 'relay')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX domains_name_key ON domains (lower(name));

CREATE TABLE mailboxes (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  domain_id      bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  local_part     text NOT NULL,
  address        text NOT NULL,
  password_hash  text NOT NULL,
  quota_bytes    bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0), -- 0: unlimited
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mailboxes_address_key ON mailboxes (lower(address));
CREATE INDEX mailboxes_domain_idx ON mailboxes (domain_id);

-- source is 'local@domain' or '@domain' (catch-all). A target '@other' rewrites the domain.
CREATE TABLE aliases (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  domain_id   bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  source      text NOT NULL,
  targets     text[] NOT NULL CHECK (cardinality(targets) > 0),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX aliases_source_key ON aliases (lower(source));
CREATE INDEX aliases_domain_idx ON aliases (domain_id);

-- id is a UUIDv7: time-ordered, doubles as the queue id in logs and Received: headers.
CREATE TABLE messages (
  id                 uuid PRIMARY KEY,
  raw                bytea NOT NULL,
  size               integer NOT NULL,
  received_at        timestamptz NOT NULL DEFAULT now(),
  mail_from          text NOT NULL,          -- '' is the null sender <>
  client_ip          text,
  client_helo        text,
  auth_user          text,
  tls                boolean NOT NULL DEFAULT false,
  smtputf8           boolean NOT NULL DEFAULT false,
  body_8bit          boolean NOT NULL DEFAULT false,
  header_message_id  text
);
-- Mail is mostly already compressed (attachments are base64 of compressed files); skipping
-- pglz saves CPU on the hot path.
ALTER TABLE messages ALTER COLUMN raw SET STORAGE EXTERNAL;
CREATE INDEX messages_received_at_idx ON messages (received_at);

-- One row per envelope recipient, plus rows created by alias expansion (original_id set).
--   queued     accepted, waiting for routing
--   delivered  in a local mailbox, or accepted by the remote MX
--   expanded   resolved into other recipient rows (alias to remote addresses)
--   relay      waiting for the outbound relay
--   deferred   temporary failure, next_attempt_at says when to try again
--   bounced    permanent failure, a DSN goes (or went) to the sender
--   failed     permanent failure where no DSN can be sent (null sender)
CREATE TABLE recipients (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id       uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  address          text NOT NULL,
  domain           text NOT NULL,
  original_id      bigint REFERENCES recipients (id) ON DELETE CASCADE,
  status           text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'delivered', 'expanded', 'relay', 'deferred', 'bounced', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  last_reply       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX recipients_message_address_key ON recipients (message_id, lower(address));
CREATE INDEX recipients_unfinished_idx ON recipients (status, created_at)
  WHERE status IN ('queued', 'relay', 'deferred');

-- One copy per mailbox per message, whatever number of aliases led there (duplicate
-- elimination, as Postfix does). The unique key makes redelivered jobs harmless.
CREATE TABLE mailbox_messages (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  mailbox_id    bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  message_id    uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  recipient_id  bigint REFERENCES recipients (id) ON DELETE SET NULL,
  uidl          text NOT NULL,
  size          integer NOT NULL,
  added_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (mailbox_id, message_id)
);
CREATE UNIQUE INDEX mailbox_messages_uidl_key ON mailbox_messages (mailbox_id, uidl);

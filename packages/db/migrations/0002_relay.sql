-- Outbound relay: every delivery attempt (so an operator can see why a message waits),
-- DSN bookkeeping on recipients, and indexes for the relay's due-work scans. Additive only.

CREATE TABLE relay_attempts (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id     uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  domain         text NOT NULL,
  recipient_ids  bigint[] NOT NULL,
  recipients     text[] NOT NULL,
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  mx_host        text,
  ip             text,
  port           integer,
  tls            boolean NOT NULL DEFAULT false,
  remote_reply   text,
  -- in-progress: written before DATA; a row still in-progress when the job comes back means a
  -- relay died between the remote reply and recording it: a possible duplicate at the remote.
  outcome        text NOT NULL CHECK (outcome IN ('in-progress', 'delivered', 'deferred', 'bounced', 'mixed', 'failover', 'possible-duplicate', 'crashed')),
  worker         text
);
CREATE INDEX relay_attempts_message_idx ON relay_attempts (message_id, domain, started_at);
CREATE INDEX relay_attempts_in_progress_idx ON relay_attempts (message_id, domain) WHERE outcome = 'in-progress';

ALTER TABLE recipients ADD COLUMN dsn_sent_at timestamptz;
ALTER TABLE recipients ADD COLUMN delay_warned_at timestamptz;
-- The MX host that gave last_reply (Remote-MTA in the DSN); null when we decided ourselves.
ALTER TABLE recipients ADD COLUMN last_mx text;

-- Due work for the relay scheduler: relay/deferred recipients by next attempt.
CREATE INDEX recipients_relay_due_idx ON recipients (next_attempt_at)
  WHERE status IN ('relay', 'deferred');
-- Bounced recipients still owing a DSN (routing's and ours).
CREATE INDEX recipients_dsn_due_idx ON recipients (message_id)
  WHERE status = 'bounced' AND dsn_sent_at IS NULL;

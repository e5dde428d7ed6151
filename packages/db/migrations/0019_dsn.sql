-- Delivery Status Notification requests (RFC 3461): what the client asked for with MAIL FROM
-- (RET, ENVID) and with each RCPT TO (NOTIFY, ORCPT), kept with the message so that every
-- service that reports (routing's local delivery, the relay, the DSN writer) honours them,
-- and the relay can pass them on unchanged. Values are stored decoded (not xtext).

-- RET: NULL when not given (we then return the headers only, as before).
ALTER TABLE messages ADD COLUMN dsn_ret text CHECK (dsn_ret IN ('FULL', 'HDRS'));
-- ENVID (at most 100 characters, §4.4): echoed as Original-Envelope-Id.
ALTER TABLE messages ADD COLUMN dsn_envid text;

-- NOTIFY: NULL when not given (failures and delays reported, as before); otherwise the
-- values asked for, '{NEVER}' for NEVER. An alias target inherits them without SUCCESS
-- (RFC 3461 §6.2.7.3: its "expanded" DSN is the success report).
ALTER TABLE recipients ADD COLUMN dsn_notify text[]
  CHECK (dsn_notify <@ ARRAY['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']::text[]);
-- ORCPT as `addr-type;address` (decoded): echoed as Original-Recipient.
ALTER TABLE recipients ADD COLUMN dsn_orcpt text;
-- When the success report (delivered, relayed, expanded) was sent, or its duty passed on to a
-- next hop that speaks DSN.
ALTER TABLE recipients ADD COLUMN dsn_success_at timestamptz;

-- The relay scheduler's sweep: successes still owed a report.
CREATE INDEX recipients_success_owed_idx ON recipients (message_id)
  WHERE dsn_success_at IS NULL AND 'SUCCESS' = ANY (dsn_notify) AND status IN ('delivered', 'expanded');

-- Outbound authentication (issue 12): DKIM keys per domain and selector, and what the relay
-- did to authenticate each attempt (signatures, ARC seal, SRS envelope sender) in the trace.
--
-- Private keys are stored only encrypted (AES-256-GCM under the key-encryption key of
-- DKIM_KEY_ENCRYPTION_KEY, bound to domain and selector; packages/sender-auth/src/kek.ts);
-- kek_id names that KEK so a key made under another one is reported as such, not as garbage.
--
-- Lifecycle: pending (generated or imported; its TXT record is published, nothing signs with
-- it) → active (signs while it is the newest active key of its algorithm for the domain) →
-- retired. Activating a key gives the older active keys of its algorithm a retire_at, the end
-- of the grace period during which their TXT records must stay published for mail in transit;
-- past retire_at they count as retired. Retired keys never sign.

CREATE TABLE dkim_keys (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  domain_id     bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
  selector      text NOT NULL CHECK (selector = lower(selector) AND selector ~ '^[a-z0-9.-]+$'),
  algorithm     text NOT NULL CHECK (algorithm IN ('ed25519', 'rsa')),
  bits          integer NOT NULL,
  -- the p= value of the DNS record (raw key for Ed25519, SubjectPublicKeyInfo for RSA)
  public_key    text NOT NULL,
  private_key   bytea NOT NULL,
  kek_id        text NOT NULL,
  imported      boolean NOT NULL DEFAULT false,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'retired')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  activated_at  timestamptz,
  retire_at     timestamptz,
  retired_at    timestamptz,
  CHECK (status = 'pending' OR activated_at IS NOT NULL OR status = 'retired')
);
-- One TXT record per name: a selector is unique within its domain whatever the algorithm.
CREATE UNIQUE INDEX dkim_keys_selector_key ON dkim_keys (domain_id, selector);
-- The relay's look-up: the newest active key of each algorithm of a domain.
CREATE INDEX dkim_keys_signing_idx ON dkim_keys (domain_id, algorithm, activated_at DESC) WHERE status = 'active';

-- Bumped by every change of dkim_keys: the relay keeps the keys it looked up while the epoch
-- it reads with each job's work (one column of a query it makes anyway) is unchanged, so a
-- key activated or retired counts from the next job on without a look-up per message.
CREATE TABLE dkim_key_epoch (
  id     integer PRIMARY KEY CHECK (id = 1),
  epoch  bigint NOT NULL
);
INSERT INTO dkim_key_epoch VALUES (1, 0);
CREATE FUNCTION hopmail_dkim_key_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE dkim_key_epoch SET epoch = epoch + 1 WHERE id = 1;
  RETURN NULL;
END $$;
CREATE TRIGGER dkim_keys_epoch AFTER INSERT OR UPDATE OR DELETE ON dkim_keys
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_dkim_key_epoch();

-- The MAIL FROM actually sent (an SRS address for forwarded mail) and the authentication the
-- relay added: { dkim: {result: signed|unsigned, …}, arc?: {…}, srs?: {…} }.
ALTER TABLE relay_attempts ADD COLUMN envelope_from text;
ALTER TABLE relay_attempts ADD COLUMN auth jsonb;

-- 0005's relay-attempt event, with the two new columns.
CREATE OR REPLACE FUNCTION hopmail_ev_relay_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO message_events (message_id, type, at, data)
    SELECT n.message_id, 'relay-attempt', n.started_at, jsonb_strip_nulls(jsonb_build_object('attemptId', n.id, 'domain', n.domain, 'mx', n.mx_host, 'ip', n.ip, 'port', n.port,
             'tls', n.tls, 'outcome', n.outcome, 'reply', n.remote_reply, 'recipients', n.recipients, 'finishedAt', coalesce(n.finished_at, now()),
             'envelopeFrom', n.envelope_from, 'auth', n.auth))
      FROM ev_new n WHERE n.outcome <> 'in-progress';
  ELSE
    INSERT INTO message_events (message_id, type, at, data)
    SELECT n.message_id, 'relay-attempt', n.started_at, jsonb_strip_nulls(jsonb_build_object('attemptId', n.id, 'domain', n.domain, 'mx', n.mx_host, 'ip', n.ip, 'port', n.port,
             'tls', n.tls, 'outcome', n.outcome, 'reply', n.remote_reply, 'recipients', n.recipients, 'finishedAt', coalesce(n.finished_at, now()),
             'envelopeFrom', n.envelope_from, 'auth', n.auth))
      FROM ev_new n JOIN ev_old o ON o.id = n.id
     WHERE o.outcome = 'in-progress' AND n.outcome <> 'in-progress';
  END IF;
  RETURN NULL;
END $$;

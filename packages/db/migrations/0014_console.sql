-- The web console (admin-api): sign-in sessions shared by every admin-api replica, and the
-- figures of its overview, kept so that reading them costs the same with a million messages
-- as with ten.

-- A session is the SHA-256 of a random cookie value (as for API keys: 256 random bits, nothing
-- to brute-force, a database dump yields no usable cookie). It belongs to an API key (revoking
-- or deleting the key ends its sessions: the key is checked on every request) or to the
-- bootstrap ADMIN_TOKEN, identified by the token's SHA-256 so that changing the token ends
-- those sessions too.
CREATE TABLE console_sessions (
  id_hash       bytea PRIMARY KEY,
  key_id        uuid REFERENCES api_keys (id) ON DELETE CASCADE,
  token_hash    bytea,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  remote_ip     text,
  CHECK ((key_id IS NULL) <> (token_hash IS NULL))
);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

-- Traffic per minute: received, delivered (to a mailbox or a remote server), deferred and
-- bounced events, counted by a statement-level trigger on message_events in the writers' own
-- transactions (one INSERT … ON CONFLICT per writing statement, which the trace triggers
-- already batch). Each connection adds to its own shard (backend pid modulo 16), so
-- concurrent writers do not queue on one counter row, and a transaction, whose now() is fixed,
-- touches one row only: no deadlock is possible. The overview sums at most 16 × 60 rows.
CREATE TABLE traffic_minutes (
  minute     timestamptz NOT NULL,
  shard      smallint NOT NULL,
  received   bigint NOT NULL DEFAULT 0,
  delivered  bigint NOT NULL DEFAULT 0,
  deferred   bigint NOT NULL DEFAULT 0,
  bounced    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, shard)
);

CREATE FUNCTION hopmail_traffic_minutes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO traffic_minutes AS t (minute, shard, received, delivered, deferred, bounced)
  SELECT date_trunc('minute', now()), (pg_backend_pid() % 16)::smallint,
         count(*) FILTER (WHERE type = 'received'),
         count(*) FILTER (WHERE type IN ('delivered', 'delivered-mailbox')),
         count(*) FILTER (WHERE type = 'deferred'),
         count(*) FILTER (WHERE type = 'bounced')
    FROM ev_new
  HAVING count(*) FILTER (WHERE type IN ('received', 'delivered', 'delivered-mailbox', 'deferred', 'bounced')) > 0
  ON CONFLICT (minute, shard) DO UPDATE
     SET received = t.received + excluded.received, delivered = t.delivered + excluded.delivered,
         deferred = t.deferred + excluded.deferred, bounced = t.bounced + excluded.bounced;
  RETURN NULL;
END $$;
CREATE TRIGGER message_events_traffic AFTER INSERT ON message_events REFERENCING NEW TABLE AS ev_new
  FOR EACH STATEMENT EXECUTE FUNCTION hopmail_traffic_minutes();

-- Queue depths sampled by the housekeeper (one replica at a time): each BullMQ queue's
-- waiting+active+delayed+prioritized jobs and the unfinished recipients per status, as
-- {"route-message": 3, "deliver-remote": 0, "send-dsn": 0, "queued": 1, "relay": 2, …}.
CREATE TABLE queue_samples (
  at      timestamptz PRIMARY KEY,
  depths  jsonb NOT NULL
);

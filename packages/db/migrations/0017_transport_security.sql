-- Transport security (issue 14): the operator's per-domain TLS policy table, the MTA-STS
-- policies every relay replica shares, the TLS outcomes that TLS-RPT (RFC 8460) reports, and
-- the reports other servers send us.
--
-- Destination domains here are remote names, not rows of `domains`: text, stored lower case
-- without a trailing dot.

-- What the operator says about a destination, overriding discovery (Postfix's
-- smtp_tls_policy_maps): none (plaintext, never STARTTLS), may (opportunistic), encrypt (TLS
-- required, certificate not checked), dane (TLS required; TLSA must validate and match, else
-- defer), verify (TLS required; the certificate must chain to ca_pem, or to the system roots
-- when it is null, and name the MX host; or have one of `fingerprints`, SHA-256 of the DER).
CREATE TABLE tls_policies (
  domain        text PRIMARY KEY CHECK (domain = lower(domain) AND domain !~ '\.$' AND length(domain) BETWEEN 1 AND 253),
  policy        text NOT NULL CHECK (policy IN ('none', 'may', 'encrypt', 'dane', 'verify')),
  ca_pem        text,
  fingerprints  text[] NOT NULL DEFAULT '{}' CHECK (array_position(fingerprints, NULL) IS NULL),
  note          text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (policy = 'verify' OR (ca_pem IS NULL AND cardinality(fingerprints) = 0))
);

-- The MTA-STS policy of each destination (RFC 8461 §5.1), fetched by any replica and used by
-- all until expires_at (fetched_at + max_age). `policy_id` is the id of the _mta-sts TXT record
-- it was fetched for: a different id seen in DNS means fetch again. A failed refresh keeps the
-- row (§5.1: a cached policy outlives fetch failures until it expires) and notes the error.
CREATE TABLE mta_sts_policies (
  domain        text PRIMARY KEY CHECK (domain = lower(domain)),
  policy_id     text NOT NULL,
  mode          text NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
  mx            text[] NOT NULL,
  max_age       integer NOT NULL CHECK (max_age BETWEEN 0 AND 31557600),
  -- the policy body as served, for the TLS-RPT report's policy-string (RFC 8460 §4.3)
  body          text NOT NULL,
  fetched_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  checked_at    timestamptz NOT NULL,
  last_error    text
);

-- TLS outcomes per day, destination, policy and MX (RFC 8460 §4.4): one counter row per
-- (successful session | failure result type), added to by each attempt with one upsert.
-- result_type '' counts successes. policy_type: sts, tlsa, no-policy-found.
CREATE TABLE tls_outcomes (
  day            date NOT NULL,
  domain         text NOT NULL,
  policy_type    text NOT NULL CHECK (policy_type IN ('sts', 'tlsa', 'no-policy-found')),
  policy_string  text NOT NULL DEFAULT '',
  mx_host        text NOT NULL,
  receiving_ip   text NOT NULL DEFAULT '',
  result_type    text NOT NULL DEFAULT '',
  count          bigint NOT NULL DEFAULT 0,
  detail         text,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain, day, policy_type, mx_host, receiving_ip, result_type, policy_string)
);
CREATE INDEX tls_outcomes_day_idx ON tls_outcomes (day);

-- Aggregate reports sent (one per destination domain and day, RFC 8460 §4.1): the housekeeper
-- inserts the row before sending so two replicas never both send; `sent_at` null means owed.
CREATE TABLE tls_rpt_sent (
  domain      text NOT NULL,
  day         date NOT NULL,
  report_id   text NOT NULL,
  rua         text[] NOT NULL,
  sent_at     timestamptz,
  last_error  text,
  PRIMARY KEY (domain, day)
);

-- TLS-RPT reports other organisations sent about delivering to us (RFC 8460 §4.3), parsed.
CREATE TABLE tls_reports_received (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at         timestamptz NOT NULL DEFAULT now(),
  organization        text NOT NULL,
  report_id           text NOT NULL,
  policy_domain       text NOT NULL,
  start_at            timestamptz NOT NULL,
  end_at              timestamptz NOT NULL,
  successful          bigint NOT NULL,
  failed              bigint NOT NULL,
  report              jsonb NOT NULL,
  UNIQUE (organization, report_id, policy_domain)
);
CREATE INDEX tls_reports_received_domain_idx ON tls_reports_received (policy_domain, start_at DESC);

-- REQUIRETLS (RFC 8689): the sender asked that this message travel only over TLS verified by
-- MTA-STS or DANE (smtp-ingress stores the MAIL FROM parameter; the relay honours it).
ALTER TABLE messages ADD COLUMN require_tls boolean NOT NULL DEFAULT false;

-- Inbound abuse defence, the operator's part (issue 13): the allowlist and blocklist of client
-- networks and sender domains that smtp-ingress applies, and the record of attempts it refused
-- or greylisted once they named a recipient (the trace of mail that never became a message).

-- One entry per network or domain, on one list. An address is a network of one (/32, /128);
-- `cidr` refuses host bits and stores the canonical form. A domain also covers its
-- subdomains. Entries are added and removed, never changed, so smtp-ingress can tell that the
-- lists changed from (max(id), count(*)) alone.
CREATE TABLE abuse_list_entries (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  list        text NOT NULL CHECK (list IN ('allow', 'block')),
  network     cidr,
  domain      text CHECK (domain = lower(domain) AND domain !~ '\.$' AND length(domain) BETWEEN 1 AND 253),
  reason      text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text,
  CHECK ((network IS NULL) <> (domain IS NULL))
);
CREATE UNIQUE INDEX abuse_list_entries_network_idx ON abuse_list_entries (network) WHERE network IS NOT NULL;
CREATE UNIQUE INDEX abuse_list_entries_domain_idx ON abuse_list_entries (domain) WHERE domain IS NOT NULL;

-- Refused and greylisted RCPTs (and refusals after them: DATA), written by smtp-ingress off the
-- reply's path. Searched by recipient or sender, newest first, for "why didn't my mail arrive".
CREATE TABLE smtp_refusals (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  session_id  text NOT NULL,
  client_ip   inet NOT NULL,
  helo        text,
  sender      text NOT NULL,
  recipient   text NOT NULL,
  stage       text NOT NULL,
  reason      text NOT NULL,
  reply       text NOT NULL
);
CREATE INDEX smtp_refusals_recipient_idx ON smtp_refusals (lower(recipient), id);
CREATE INDEX smtp_refusals_sender_idx ON smtp_refusals (lower(sender), id);
CREATE INDEX smtp_refusals_at_idx ON smtp_refusals USING brin (at);

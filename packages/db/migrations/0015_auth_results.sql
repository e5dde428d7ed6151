-- Inbound authentication (issue 12): what smtp-ingress found when it checked a message from
-- the outside (SPF, DKIM, DMARC, ARC; the same facts as the Authentication-Results: field it
-- added), kept with the message for the admin API's search and trace. NULL: not checked
-- (submission, mail Hopmail made itself, messages older than this migration, checks off).
ALTER TABLE messages ADD COLUMN auth_results jsonb;

-- Per-domain inbound policy for mail TO the domain; NULL follows the cluster default
-- (smtp-ingress AUTH_DMARC_ENFORCE, AUTH_SPF_FAIL_REJECT).
--   inbound_dmarc_enforce: honour the sender domain's DMARC p=reject (550) / p=quarantine
--     (accepted, X-Spam-Flag: YES). Off: results are recorded and marked only.
--   inbound_spf_reject: refuse mail whose SPF result is fail even when DMARC would not.
ALTER TABLE domains
  ADD COLUMN inbound_dmarc_enforce boolean,
  ADD COLUMN inbound_spf_reject boolean;

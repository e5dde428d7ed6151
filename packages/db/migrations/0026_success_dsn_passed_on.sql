-- The success report's duty passed on, in the trace (RFC 3461 NOTIFY=SUCCESS). When a
-- recipient with NOTIFY=SUCCESS reaches a next hop that speaks DSN (outbound-relay), or is an
-- alias with exactly one target (routing, RFC 3461 §6.2.7.2), the report becomes the next
-- hop's or the target's to send: dsn_success_at is set in the same update as the status, and
-- no report leaves here. 0023 left that silent, so "where is my success DSN?" had no answer in
-- the trace. The status event (routed, delivered) of that update now says
-- `"dsnSuccess": "passed-on"`. A report we send or suppress (null sender) sets it later, on
-- its own, with its dsn-sent event as before. The rest of the function is 0023's, unchanged.
CREATE OR REPLACE FUNCTION hopmail_ev_recipients_upd() RETURNS trigger LANGUAGE plpgsql AS $$
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
                                                'mx', n.last_mx, 'attempts', n.attempts, 'nextAttemptAt', n.next_attempt_at,
                                                'dsnSuccess', CASE WHEN o.dsn_success_at IS NULL AND n.dsn_success_at IS NOT NULL AND dsn_id IS NULL THEN 'passed-on' END)) AS data
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
    UNION ALL
    SELECT n.message_id, n.address, 'dsn-sent',
           jsonb_build_object('action', CASE WHEN n.status = 'expanded' THEN 'expanded' WHEN n.last_mx IS NOT NULL THEN 'relayed' ELSE 'delivered' END,
                              'status', '2.0.0', 'dsnMessageId', dsn_id)
      FROM ev_new n JOIN ev_old o ON o.id = n.id
     WHERE o.dsn_success_at IS NULL AND n.dsn_success_at IS NOT NULL AND dsn_id IS NOT NULL
  ) e WHERE e.type IS NOT NULL;
  RETURN NULL;
END $$;

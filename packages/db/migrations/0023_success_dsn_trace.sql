-- Success reports in the trace (RFC 3461 NOTIFY=SUCCESS). The DSN writer sets
-- recipients.dsn_success_at in the transaction that commits a success DSN, as it sets
-- dsn_sent_at for a bounce; until now only bounces and delay warnings were traced. The
-- event is `dsn-sent` with the report's RFC 3464 Action for that recipient (delivered,
-- relayed, expanded: the rule of outbound-relay's successAction()) and the DSN's id.
-- dsn_success_at set without a DSN (the duty passed on to a next hop that speaks DSN or to a
-- single alias target, or a null sender) is not a report and leaves no dsn-sent event.
-- The rest of the function is 0005's, unchanged.
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
    UNION ALL
    SELECT n.message_id, n.address, 'dsn-sent',
           jsonb_build_object('action', CASE WHEN n.status = 'expanded' THEN 'expanded' WHEN n.last_mx IS NOT NULL THEN 'relayed' ELSE 'delivered' END,
                              'status', '2.0.0', 'dsnMessageId', dsn_id)
      FROM ev_new n JOIN ev_old o ON o.id = n.id
     WHERE o.dsn_success_at IS NULL AND n.dsn_success_at IS NOT NULL AND dsn_id IS NOT NULL
  ) e WHERE e.type IS NOT NULL;
  RETURN NULL;
END $$;

-- SEARCH no longer indexes the folder's backlog before it answers (issue #15).
--
-- Until now a SEARCH that needed the index first indexed every message of its folder still in
-- message_search_pending, in its own transaction, before the statement timeout was even set:
-- after a burst of 100,000 deliveries the first SEARCH took 90 s, and it raced the background
-- indexer for the same rows. Now the rows of the messages not yet indexed are computed where
-- the search reads them (hopmail_search_unindexed, the same row hopmail_search_index stores),
-- only for the folder's pending messages and only the columns the search keys read, and the
-- background indexer alone writes the index.

-- One message's search row, as the index holds it. A set-returning SQL function of one SELECT:
-- PostgreSQL inlines it where it is called, so a search that reads only the header block does
-- not fold the body.
CREATE FUNCTION hopmail_search_unindexed(id uuid) RETURNS TABLE (message_id uuid, head text, body text, body_complete boolean, sent_on date)
  LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT m.id, h.head, hopmail_search_body(m.raw), hopmail_search_body_complete(m.raw),
         coalesce(hopmail_search_sent_on(h.head), (m.received_at AT TIME ZONE 'UTC')::date)
    FROM messages m CROSS JOIN LATERAL (SELECT hopmail_search_head(m.raw) AS head) h
   WHERE m.id = $1
$$;

-- The indexer stores that same row.
CREATE OR REPLACE FUNCTION hopmail_search_index(id uuid) RETURNS void LANGUAGE sql AS $$
  INSERT INTO message_search (message_id, head, body, body_complete, sent_on)
  SELECT u.message_id, u.head, u.body, u.body_complete, u.sent_on
    FROM hopmail_search_unindexed($1) u
   WHERE NOT EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = $1)
  ON CONFLICT (message_id) DO NOTHING
$$;

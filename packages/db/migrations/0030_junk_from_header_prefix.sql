-- A message stored without smtp-ingress's junk decision (a DSN, a TLS report, anything not
-- received over SMTP: messages.junk NULL) was read whole for each copy delivered, to look for
-- X-Spam-Flag: YES in its header: hopmail_search_head() looks for the end of the header block
-- in the value it gets, so the whole stored message was fetched (a RET=FULL DSN of a 10 MiB
-- message: 10 MiB per copy). The header block is at the start: the first 64 KiB are enough,
-- and substring() of a stored (uncompressed, STORAGE EXTERNAL) message fetches only those.
-- Still a plain expression, so PostgreSQL inlines it and reads nothing when `junk` is set.
CREATE OR REPLACE FUNCTION hopmail_delivery_junk(junk boolean, spam jsonb, raw bytea) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(junk, spam->>'action' IN ('add header', 'rewrite subject') OR hopmail_search_head(substring(raw FROM 1 FOR 65536)) ~ '(^|\n)x-spam-flag[ \t]*:[ \t]*yes\M')
$$;

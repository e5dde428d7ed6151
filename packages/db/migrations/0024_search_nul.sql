-- SEARCH index and messages holding NUL octets (issue #15).
--
-- 0021 reads a message's octets as Latin-1 text with convert_from(), which refuses a NUL
-- ("invalid byte sequence for encoding LATIN1: 0x00"). A message with one (a BINARYMIME body, an
-- IMAP APPEND, malformed mail) then failed its own indexing, the whole batch of the background
-- indexer it was in, and any SEARCH of its folder. hopmail_search_latin1() reads the octets
-- without their NULs (a search string cannot hold one: RFC 9051 §4.3); mail without a NUL, all
-- but a few messages, takes the plain convert_from() as before.

CREATE FUNCTION hopmail_search_latin1(b bytea) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- encode(…, 'escape') writes a NUL as \000 and a backslash as \\; the pattern consumes \\
  -- pairs first, so only a real \000 is dropped, and decode(…, 'escape') restores the rest.
  SELECT CASE WHEN position('\x00'::bytea IN b) = 0 THEN convert_from(b, 'LATIN1')
              ELSE convert_from(decode(regexp_replace(encode(b, 'escape'), '(\\\\)|\\000', '\1', 'g'), 'escape'), 'LATIN1') END
$$;

CREATE OR REPLACE FUNCTION hopmail_search_head(raw bytea) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hopmail_search_fold(regexp_replace(hopmail_search_latin1(substring(raw FOR coalesce(nullif(position('\x0d0a0d0a'::bytea IN raw), 0) + 3, octet_length(raw)))), '\r?\n[ \t]+', ' ', 'g'))
$$;

CREATE OR REPLACE FUNCTION hopmail_search_body(raw bytea) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT hopmail_search_fold(hopmail_search_latin1(substring(raw FROM coalesce(nullif(position('\x0d0a0d0a'::bytea IN raw), 0) + 4, octet_length(raw) + 1) FOR 1048576)))
$$;

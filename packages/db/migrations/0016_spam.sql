-- Inbound abuse defence (issue 13): rspamd's verdict on each message, as smtp-ingress got it
-- at the end of DATA. {"checked": true, "action", "score", "required", "symbols": {name: score}}
-- or {"checked": false, "reason": "unavailable"} (accepted fail-open); NULL when no content
-- filter is configured. The admin API's search and trace show it; a report (spam/ham) reads
-- the stored raw message, not this.
ALTER TABLE messages ADD COLUMN spam jsonb;

-- BODY=BINARYMIME (RFC 3030 §3): the message came over BDAT as binary octets and must leave the
-- same way — exact bytes, BDAT with BODY=BINARYMIME, only to a next hop that offers CHUNKING and
-- BINARYMIME (outbound-relay bounces it 554 5.6.3 otherwise: converting would need a MIME
-- re-encoding that breaks signatures).
ALTER TABLE messages ADD COLUMN body_binary boolean NOT NULL DEFAULT false;

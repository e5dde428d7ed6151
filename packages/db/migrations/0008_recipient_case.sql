-- Recipients of one message are the same only when their domain matches in any case and
-- their local part exactly (envelopeKey() in @hopmail/mail). RFC 5321 §2.4 leaves the case
-- of a local part to the host that owns the mailbox, so `Foo@remote.test` and
-- `foo@remote.test` may be two people; the key of 0001 (lower(address)) merged them.
-- Local recipients given in two cases still get one copy per mailbox (mailbox_messages'
-- own key). Every row that satisfied the old key satisfies this finer one.
DROP INDEX recipients_message_address_key;
CREATE UNIQUE INDEX recipients_message_address_key ON recipients (message_id, lower(domain), (substring(address from '^(.*)@')));

-- Retention (admin-api's housekeeping): finished messages are deleted.
-- "Is this message still in any mailbox?" is asked by message, and deleting a message
-- cascades to its mailbox rows by message: both want this index (the unique key leads with
-- the mailbox).
CREATE INDEX mailbox_messages_message_idx ON mailbox_messages (message_id);

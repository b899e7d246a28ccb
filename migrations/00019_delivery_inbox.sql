-- Owner: modules/delivery. The in-app inbox: one row per message the inapp
-- channel delivered. The id is the delivery key's digest (posting, user,
-- channel), so a redelivered batch inserts nothing twice (ON CONFLICT DO
-- NOTHING). A message past expires_at is never listed and is swept.
-- +goose Up
CREATE TABLE inbox_messages (
    id                text        PRIMARY KEY,
    user_id           text        NOT NULL,
    posting_id        text        NOT NULL,
    notification_type text        NOT NULL,
    title             text        NOT NULL,
    body              text        NOT NULL,
    created_at        timestamptz NOT NULL,
    read_at           timestamptz,
    expires_at        timestamptz
);

-- A user's inbox, newest first (the listing), or in order of arrival (the
-- stream): one index serves both directions.
CREATE INDEX inbox_messages_user_created ON inbox_messages (user_id, created_at DESC, id DESC);
-- The unread count.
CREATE INDEX inbox_messages_user_unread ON inbox_messages (user_id) WHERE read_at IS NULL;
-- The sweep of expired messages.
CREATE INDEX inbox_messages_expires ON inbox_messages (expires_at) WHERE expires_at IS NOT NULL;

-- +goose Down
DROP TABLE IF EXISTS inbox_messages;

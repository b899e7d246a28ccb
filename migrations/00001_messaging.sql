-- Owner: platform/messaging. Keys of the messages each handler processed,
-- recorded in the same transaction as the handler's writes.
-- +goose Up
CREATE TABLE processed_messages (
    key          text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX processed_messages_expires_at ON processed_messages (expires_at);

-- +goose Down
DROP TABLE processed_messages;

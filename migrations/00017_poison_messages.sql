-- Owner: platform/poisonqueue. The poisoned messages operators see in the
-- console (GET /api/v1/poison): one row per message and handler that
-- refused it, kept for amqp.poison_ttl from poisoned_at (they can hold
-- emails and phone numbers; the janitor deletes older rows).
-- +goose Up
CREATE TABLE poison_messages (
    -- EntryID(message_id, handler), a UUID version 5.
    id          uuid PRIMARY KEY,
    message_id  text NOT NULL,
    topic       text NOT NULL,
    handler     text NOT NULL,
    reason      text NOT NULL,
    -- As the handler got it: not always JSON, not always UTF-8.
    payload     bytea NOT NULL,
    metadata    jsonb NOT NULL,
    poisoned_at timestamptz NOT NULL
);
-- The console's list (newest first, with its cursor) and the janitor.
CREATE INDEX poison_messages_poisoned_at ON poison_messages (poisoned_at DESC, id DESC);

-- +goose Down
DROP TABLE poison_messages;

-- Owner: modules/delivery. Digests: the bulk deliveries of a notification
-- type configured as a digest (delivery.digests), held per user and
-- channel until the digest is due, then sent as one message. The held
-- deliveries' rows stay pending until that message ends.
-- +goose Up
CREATE TABLE delivery_digests (
    id         uuid PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL,
    type       text COLLATE "C" NOT NULL,
    channel    text COLLATE "C" NOT NULL,
    lane       text NOT NULL,
    due_at     timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    -- Set when the digest is due and its batch was sent (in the same
    -- transaction, through the outbox); NULL while it takes parts.
    closed_at  timestamptz
);
-- One open digest per user, type and channel.
CREATE UNIQUE INDEX delivery_digests_open ON delivery_digests (user_id, type, channel) WHERE closed_at IS NULL;
-- The open digests by when they are due (the flush's query).
CREATE INDEX delivery_digests_due ON delivery_digests (due_at) WHERE closed_at IS NULL;
-- The closed ones by when they closed (the purge).
CREATE INDEX delivery_digests_closed ON delivery_digests (closed_at) WHERE closed_at IS NOT NULL;

CREATE TABLE delivery_digest_parts (
    -- The held delivery: held once, whichever digest holds it.
    posting_id text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    channel    text COLLATE "C" NOT NULL,
    digest_id  uuid NOT NULL REFERENCES delivery_digests (id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL,
    -- app.DigestPart as JSON: recipient, context (or its claim check
    -- reference), expiry, quiet hours, template.
    part       jsonb NOT NULL,
    PRIMARY KEY (posting_id, user_id, channel)
);
CREATE INDEX delivery_digest_parts_digest ON delivery_digest_parts (digest_id, added_at);

-- +goose Down
DROP TABLE delivery_digest_parts;
DROP TABLE delivery_digests;

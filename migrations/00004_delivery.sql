-- Owner: modules/delivery. One row per (posting, user, channel) delivery,
-- and the postings cancelled before or while their batches were delivered.
-- +goose Up
CREATE TABLE deliveries (
    -- COLLATE "C": the API lists a posting's deliveries by user id then
    -- channel, byte by byte, and pages through them on that key.
    posting_id text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    channel    text COLLATE "C" NOT NULL,
    status     text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'sent', 'failed', 'expired', 'skipped', 'cancelled')),
    attempts   integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- The last error or the reason of a final status, in public words.
    error      text NOT NULL DEFAULT '',
    message_id text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    sent_at    timestamptz,
    -- Whether the final status was published in a DeliveryOutcomes event
    -- (set in the same transaction as the event's outbox row).
    reported   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (posting_id, user_id, channel),
    CHECK (status <> 'pending' OR NOT reported)
);
-- The API's listing filtered by status (the primary key serves the
-- unfiltered one).
CREATE INDEX deliveries_posting_status ON deliveries (posting_id, status, user_id, channel);
-- Final rows not reported yet: what a batch or a cancellation still has to
-- publish. Small, since rows leave it once reported.
CREATE INDEX deliveries_unreported ON deliveries (posting_id, user_id, channel)
    WHERE NOT reported AND status <> 'pending';

CREATE TABLE delivery_cancelled_postings (
    posting_id   text PRIMARY KEY,
    cancelled_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE delivery_cancelled_postings;
DROP TABLE deliveries;

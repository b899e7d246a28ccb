-- Owner: modules/delivery. The suppression list: addresses no delivery is
-- sent to any more, because their channel refused them for good (an SMTP
-- 5xx to RCPT TO, the SMS gateway's "invalid number") or someone posted
-- them (POST /api/v1/suppressions: bounce and complaint feeds). Addresses
-- are stored normalized (emails lowercased, phone numbers without
-- separators), so a batch looks all its recipients up in one query on the
-- primary key.
-- +goose Up
CREATE TABLE delivery_suppressions (
    channel    text COLLATE "C" NOT NULL,
    address    text COLLATE "C" NOT NULL,
    -- Why, in public words: the channel's refusal, or the caller's reason.
    reason     text NOT NULL,
    source     text NOT NULL CHECK (source IN ('delivery', 'api')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (channel, address)
);
-- The API lists the newest first and pages on (created_at, channel, address).
CREATE INDEX delivery_suppressions_newest ON delivery_suppressions (created_at DESC, channel, address);

-- +goose Down
DROP TABLE delivery_suppressions;

-- Owner: modules/posting. An idempotency key answers with the posting it
-- made for posting.idempotency_retention, then is free again (the posting
-- stays readable by id): the keys move out of postings into posting_keys,
-- each with its expiry, claimed by INSERT … ON CONFLICT and swept by the
-- janitor once expired. postings keeps the key each posting was made with,
-- no longer unique, and the fingerprint of the request that made it: the
-- same key with a different request is refused. Keys of existing postings
-- expire 24 hours after their posting was created (the default retention);
-- those postings have no fingerprint and match any repeat.
-- +goose Up
CREATE TABLE posting_keys (
    key        text PRIMARY KEY CHECK (key <> ''),
    -- checked at commit: a key is claimed before its posting is inserted
    posting_id uuid NOT NULL REFERENCES postings (id) DEFERRABLE INITIALLY DEFERRED,
    expires_at timestamptz NOT NULL
);
CREATE INDEX posting_keys_expires_at ON posting_keys (expires_at);

INSERT INTO posting_keys (key, posting_id, expires_at)
SELECT idempotency_key, id, created_at + interval '24 hours' FROM postings;

ALTER TABLE postings DROP CONSTRAINT postings_idempotency_key;
ALTER TABLE postings ADD COLUMN request_fingerprint text NOT NULL DEFAULT '';

-- +goose Down
-- Fails when a key was used again after it expired (two postings hold it).
ALTER TABLE postings DROP COLUMN request_fingerprint;
DROP TABLE posting_keys;
ALTER TABLE postings ADD CONSTRAINT postings_idempotency_key UNIQUE (idempotency_key);

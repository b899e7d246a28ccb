-- Owner: platform/claimcheck. A large part of many messages kept once (a
-- posting's resolved template context too large to copy into each of its
-- batches), referenced by the messages. Written in the writer's unit of
-- work, never changed; deleted by the janitor once expired.
-- +goose Up
CREATE TABLE claim_checks (
    ref        text PRIMARY KEY,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX claim_checks_expires_at ON claim_checks (expires_at);

-- +goose Down
DROP TABLE claim_checks;

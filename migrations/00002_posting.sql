-- Owner: modules/posting. One row per posting: what it is made of, where its
-- audience walk is (next_page, walk_done) and its progress counters, kept as
-- integer columns so that delivery outcomes are added by one UPDATE.
-- +goose Up
CREATE TABLE postings (
    id                uuid PRIMARY KEY,
    idempotency_key   text NOT NULL CHECK (idempotency_key <> ''),
    from_event        text NOT NULL DEFAULT '',
    from_service      text NOT NULL DEFAULT '',
    notification_type text NOT NULL,
    receivers         text NOT NULL,
    template          text NOT NULL,
    channels          text[] NOT NULL,
    -- the context as the caller gave it, and as resolved (frozen once
    -- context_resolved is set); NULL when there is none
    template_context  jsonb,
    resolved_context  jsonb,
    context_resolved  boolean NOT NULL DEFAULT false,
    priority          text NOT NULL,
    expires_at        timestamptz,
    send_at           timestamptz,
    status            text NOT NULL CHECK (status IN
                          ('accepted', 'scheduled', 'dispatching', 'completed', 'cancelled', 'expired', 'failed')),
    next_page         integer NOT NULL DEFAULT 1,
    walk_done         boolean NOT NULL DEFAULT false,
    recipients        bigint NOT NULL DEFAULT 0,
    skipped           bigint NOT NULL DEFAULT 0,
    sent              bigint NOT NULL DEFAULT 0,
    failed            bigint NOT NULL DEFAULT 0,
    expired           bigint NOT NULL DEFAULT 0,
    cancelled         bigint NOT NULL DEFAULT 0,
    error             text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    completed_at      timestamptz,
    CONSTRAINT postings_idempotency_key UNIQUE (idempotency_key)
);

-- Listings are newest first, (created_at, id) descending, optionally
-- filtered by one of these columns; each index serves its filter and the
-- keyset cursor.
CREATE INDEX postings_created ON postings (created_at, id);
CREATE INDEX postings_from_event ON postings (from_event, created_at, id);
CREATE INDEX postings_status ON postings (status, created_at, id);
CREATE INDEX postings_notification_type ON postings (notification_type, created_at, id);

-- The scheduler's question: scheduled postings whose send_at has come.
CREATE INDEX postings_due ON postings (send_at, id) WHERE status = 'scheduled';

-- +goose Down
DROP TABLE postings;

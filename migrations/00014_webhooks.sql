-- Owner: modules/webhooks. Delivery-status webhooks: the endpoints
-- administrators register, the module's own outbox (one message per
-- endpoint and event, written in the transaction of the event that caused
-- it, deleted once the endpoint took it or was given up on) and each
-- endpoint's history of attempts (its last 100).
-- +goose Up
CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY,
    url                        text NOT NULL,
    description                text NOT NULL DEFAULT '',
    -- The event types it receives (delivery.sent, posting.completed, …).
    events                     text[] NOT NULL,
    -- The signing secret, "whsec_" and base64: kept as it is, since
    -- signing needs it; shown only when made, never logged.
    secret                     text NOT NULL,
    -- A rotated-out secret signs beside the new one until it expires.
    previous_secret            text NOT NULL DEFAULT '',
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    disabled_at                timestamptz,
    disabled_reason            text NOT NULL DEFAULT '',
    last_success_at            timestamptz,
    -- The number of the endpoint's last attempt (webhook_attempts.seq).
    attempt_seq                bigint NOT NULL DEFAULT 0
);

CREATE TABLE webhook_messages (
    id              uuid PRIMARY KEY, -- the webhook-id is "msg_" and its hex
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- "<event type>:<posting>:<user>:<channel>" or "<event type>:<posting>":
    -- an event consumed twice makes one message.
    event_key       text COLLATE "C" NOT NULL,
    event_type      text NOT NULL,
    -- The body exactly as signed and sent on every try.
    payload         bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    -- When it is due; while a dispatcher sends it, the end of its lease.
    next_attempt_at timestamptz NOT NULL,
    -- When it is given up on (webhooks.max_age after it was made).
    expires_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    UNIQUE (endpoint_id, event_key)
);
-- A dispatcher claims an endpoint's due messages, earliest first.
CREATE INDEX webhook_messages_due ON webhook_messages (endpoint_id, next_attempt_at);

CREATE TABLE webhook_attempts (
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    message_id      uuid NOT NULL,
    event_type      text NOT NULL,
    attempt         integer NOT NULL,
    attempted_at    timestamptz NOT NULL,
    status_code     integer NOT NULL DEFAULT 0, -- 0: no answer came
    error           text NOT NULL DEFAULT '',
    duration_us     bigint NOT NULL,
    result          text NOT NULL CHECK (result IN ('success', 'failure')),
    next_attempt_at timestamptz,
    PRIMARY KEY (endpoint_id, seq)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP TABLE webhook_endpoints;

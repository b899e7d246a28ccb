-- Owner: modules/delivery. Who is delivering a batch right now: two copies
-- of one batch (the outbox forwarding again after a crash, and the broker
-- redelivering) handed to two instances at once would otherwise both send
-- the rows still pending. A lease expires unless renewed, so that a batch
-- whose instance died is taken over.
-- +goose Up
CREATE TABLE delivery_batch_leases (
    posting_id text NOT NULL,
    lane       text NOT NULL,
    batch_no   integer NOT NULL,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (posting_id, lane, batch_no)
);

-- +goose Down
DROP TABLE delivery_batch_leases;

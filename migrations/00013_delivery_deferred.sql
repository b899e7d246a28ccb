-- Owner: modules/delivery. The parts of batches that wait for the end of
-- their recipients' quiet hours: the DeliverBatch command with those items,
-- sent again once not_before has passed. Their delivery rows stay pending.
-- +goose Up
CREATE TABLE delivery_deferred (
    posting_id text        NOT NULL,
    lane       text        NOT NULL,
    batch_no   integer     NOT NULL,
    not_before timestamptz NOT NULL,
    command    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (posting_id, lane, batch_no, not_before)
);
CREATE INDEX delivery_deferred_due ON delivery_deferred (not_before);

-- +goose Down
DROP TABLE delivery_deferred;

-- Owner: modules/delivery. Every delivery row is written three times: the
-- pending insert, its final status, its reported flag. With an index on
-- status (deliveries_posting_status) or a predicate on status and reported
-- (deliveries_unreported), each of the two updates wrote a new entry in
-- every index; at a million rows those indexes outgrew the cache and the
-- rate halved. Without them only the primary key is indexed, and the
-- updates, which touch no key column, are HOT (heap-only: no index entry,
-- the new version on the same page), given free room on the page: hence the
-- lower fillfactor. Filtering a posting's deliveries by status walks the
-- posting's rows in key order; reports and cancellations go by key.
-- +goose Up
DROP INDEX deliveries_posting_status;
DROP INDEX deliveries_unreported;
ALTER TABLE deliveries SET (fillfactor = 50);

-- +goose Down
ALTER TABLE deliveries RESET (fillfactor);
CREATE INDEX deliveries_posting_status ON deliveries (posting_id, status, user_id, channel);
CREATE INDEX deliveries_unreported ON deliveries (posting_id, user_id, channel)
    WHERE NOT reported AND status <> 'pending';

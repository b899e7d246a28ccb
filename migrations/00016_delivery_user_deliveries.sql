-- Owner: modules/delivery. A user's deliveries across postings, newest
-- first (GET /api/v1/users/{user_id}/deliveries): one index probe for the
-- user, then the page in index order, filtered by channel on the index
-- itself and by status on the rows it reads.
--
-- On created_at, not updated_at: created_at, like the key columns, never
-- changes after the pending insert, so a row's later updates (its final
-- status, its reported flag) still touch no indexed column and stay
-- heap-only (migration 00006). On updated_at every one of them would write
-- an entry in this index and in the primary key again. What the index
-- costs is one entry per inserted row (docs/OPERATIONS.md, "A user's
-- deliveries"). No status in it, for the same reason.
--
-- Built without CONCURRENTLY, which goose would have to run outside a
-- transaction and which waits for every older transaction of the whole
-- server: it holds the table's writes back while it builds. On a large
-- table, create it beforehand with CREATE INDEX CONCURRENTLY and the
-- definition below; this migration then finds it (IF NOT EXISTS).
-- +goose Up
CREATE INDEX IF NOT EXISTS deliveries_user_created
    ON deliveries (user_id, created_at DESC, posting_id DESC, channel DESC);

-- +goose Down
DROP INDEX IF EXISTS deliveries_user_created;

-- Owner: modules/delivery. Which provider of its channel sent a delivery
-- (smtp.providers, sms.providers): set with the "sent" mark, empty for any
-- other status and for the rows sent before this migration. Not indexed,
-- so the mark's update stays heap-only (migration 00006); a constant
-- default adds the column without rewriting the table.
-- +goose Up
ALTER TABLE deliveries ADD COLUMN provider text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE deliveries DROP COLUMN provider;

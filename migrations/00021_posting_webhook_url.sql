-- Owner: modules/posting. A posting may name the URL the webhook channel
-- POSTs every recipient's message to (webhook_url of POST
-- /api/v1/postings), in place of each user's own from the directory. Empty:
-- none. Written once, with the posting; never shown by the API (it may hold
-- the receiver's credential).
-- +goose Up
ALTER TABLE postings ADD COLUMN webhook_url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE postings DROP COLUMN webhook_url;

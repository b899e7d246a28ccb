-- Owner: modules/posting. walk_paused is set while a posting's audience
-- walk waits for delivery outcomes before asking for its next page
-- (directory.max_ahead: the walk stays at most that many recipients ahead
-- of delivery); the outcome handler that brings the backlog down to half
-- the window clears it and asks for the page.
-- +goose Up
ALTER TABLE postings ADD COLUMN walk_paused boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE postings DROP COLUMN walk_paused;

-- Owner: modules/preferences. A user's own quiet hours, {"start": "22:00",
-- "end": "08:00"} in their time zone; NULL: the configured window applies.
-- +goose Up
ALTER TABLE user_preferences
    ADD COLUMN quiet_hours jsonb CHECK (quiet_hours IS NULL OR jsonb_typeof(quiet_hours) = 'object');

-- +goose Down
ALTER TABLE user_preferences DROP COLUMN quiet_hours;

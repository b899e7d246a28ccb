-- Owner: modules/preferences. A user's switches of one notification type on
-- one channel: {"new_movies": {"email": true, "sms": false}}. A type or
-- channel absent from it says nothing; the channel's and the type's switches
-- decide alone.
-- +goose Up
ALTER TABLE user_preferences
    ADD COLUMN per_type jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(per_type) = 'object');

-- +goose Down
ALTER TABLE user_preferences DROP COLUMN per_type;

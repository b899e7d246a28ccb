-- Owner: modules/preferences. Each user's own choices (overrides of the
-- configured defaults): one row per user who ever saved preferences. A
-- channel or type absent from a map follows its default.
-- +goose Up
CREATE TABLE user_preferences (
    user_id    text PRIMARY KEY,
    -- {"email": true, "sms": false}
    channels   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(channels) = 'object'),
    -- {"new_movies": false, ...}
    types      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(types) = 'object'),
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE user_preferences;

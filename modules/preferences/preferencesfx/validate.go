package preferencesfx

import "github.com/notifier/notifier/platform/config"

// Validate judges the preference defaults (preferences.*) as the module's
// policy will, naming each offending key, so that the composition root
// reports them with the rest of the configuration before anything is
// built.
func Validate(cfg config.Config) error {
	_, err := newPolicy(cfg)
	return err
}

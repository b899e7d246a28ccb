package eventintakefx

import (
	"github.com/notifier/notifier/modules/eventintake/internal/app"
	"github.com/notifier/notifier/platform/config"
)

// Validate judges the intake flows (intake.flows) as the module's
// constructors will, naming each offending key, so that the composition
// root reports them with the rest of the configuration before anything is
// built.
func Validate(cfg config.Config) error { return app.CheckFlows(cfg.Intake.Flows) }

package memory_test

import (
	"testing"

	"github.com/notifier/notifier/modules/preferences/internal/adapters/memory"
	"github.com/notifier/notifier/modules/preferences/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/preferences/internal/app"
)

func TestMemoryStorePassesTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) app.Store { return memory.NewStore() })
}

package memory_test

import (
	"testing"

	"github.com/notifier/notifier/modules/webhooks/internal/adapters/memory"
	"github.com/notifier/notifier/modules/webhooks/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/webhooks/internal/app"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) app.Store { return memory.New() })
}

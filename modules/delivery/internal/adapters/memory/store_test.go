package memory_test

import (
	"testing"

	"github.com/notifier/notifier/modules/delivery/internal/adapters/memory"
	"github.com/notifier/notifier/modules/delivery/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/delivery/internal/app"
)

func TestMemoryStorePassesTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) app.Store { return memory.New() })
}

func TestMemorySuppressionsPassTheSuppressionStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunSuppressions(t, func(*testing.T) app.SuppressionStore { return memory.NewSuppressions() })
}

func TestMemoryInboxPassesTheInboxStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunInbox(t, func(*testing.T) app.InboxStore { return memory.NewInbox() })
}

func TestMemoryDigestsPassTheDigestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.RunDigests(t, func(*testing.T) app.DigestStore { return memory.NewDigests() })
}

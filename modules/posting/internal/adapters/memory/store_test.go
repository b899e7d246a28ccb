package memory_test

import (
	"testing"

	"github.com/notifier/notifier/modules/posting/internal/adapters/memory"
	"github.com/notifier/notifier/modules/posting/internal/adapters/storetest"
	"github.com/notifier/notifier/modules/posting/internal/domain"
)

func TestMemoryStoreKeepsTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) domain.Store { return memory.New() })
}

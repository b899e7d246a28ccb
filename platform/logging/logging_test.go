package logging_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/logging"
)

func TestMaskingHidesPersonalData(t *testing.T) {
	require.Equal(t, "i***@mail.ru", logging.MaskEmail("ivan.petrov@mail.ru"))
	require.Equal(t, "***", logging.MaskEmail("not-an-email"))
	require.Equal(t, "***67", logging.MaskPhone("+79001234567"))
	require.Equal(t, "***", logging.MaskPhone("7"))
	require.Equal(t, "и***@почта.рф", logging.MaskAddress("иван@почта.рф"))
	require.Equal(t, "***67", logging.MaskAddress("+79001234567"))
}

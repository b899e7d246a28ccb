package smtptx

import (
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEnhancedCodeIsTakenOnlyFromTheStartOfTheReplyText(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		"5.1.1 <anna@example.com> no such user": "5.1.1",
		"4.2.1":                                 "4.2.1",
		"2.0.0 ok":                              "2.0.0",
		"5.7.26 unauthenticated\nsecond line":   "5.7.26",
		"4.123.456 x":                           "4.123.456",
		"5.1.1234 x":                            "",
		"5.1234.1 x":                            "",
		"3.1.1 x":                               "",
		"5.1 x":                                 "",
		"5..1 x":                                "",
		"5.1.x":                                 "",
		"5.1.1x":                                "",
		"no such user 5.1.1":                    "",
		"":                                      "",
	} {
		require.Equal(t, want, enhancedCode(msg), "%q", msg)
	}
}

func TestFailureKindNamesTheFailureWithoutItsText(t *testing.T) {
	t.Parallel()
	for want, err := range map[string]error{
		"timeout":           fmt.Errorf("read tcp 10.0.0.1:25: %w", os.ErrDeadlineExceeded),
		"connection closed": fmt.Errorf("write: %w", syscall.EPIPE),
		"malformed reply":   textproto.ProtocolError("short response: \"anna@example.com\""),
		"i/o failure":       errors.New("something for anna@example.com"),
		"no connection":     ErrNoConnection,
		"unknown":           nil,
	} {
		require.Equal(t, want, failureKind(err))
	}
	require.Equal(t, "connection closed", failureKind(io.EOF))
	require.Equal(t, "connection closed", failureKind(syscall.ECONNRESET))
}

func TestBrokenStaleAndTemporaryFollowTheCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e                        Error
		broken, stale, temporary bool
	}{
		{Error{Stage: StageMail, Code: 250}, true, false, true}, // a reply out of step
		{Error{Stage: StageData, Code: 250}, true, false, true},
		{Error{Stage: StageRcpt, Code: 421}, true, false, true},
		{Error{Stage: StageMail, Code: 421}, true, true, true},
		{Error{Stage: StageMail, Code: 451}, false, false, true},
		{Error{Stage: StageMail, Code: 550}, false, false, false},
		{Error{Stage: StageRcpt, Code: 550, dirty: true}, true, false, false},
		{Error{Stage: StageContent}, true, false, true},
	} {
		require.Equal(t, tc.broken, tc.e.Broken(), "%+v", tc.e)
		require.Equal(t, tc.stale, tc.e.Stale(), "%+v", tc.e)
		require.Equal(t, tc.temporary, tc.e.Temporary(), "%+v", tc.e)
	}
}

package smtptx

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDotStuffEndsLinesInCRLFDoublesLeadingDotsAndEndsWithALoneDot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ".\r\n"},
		{"crlf", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"bare lf", "a\nb\n", "a\r\nb\r\n.\r\n"},
		{"no last newline", "a\r\nb", "a\r\nb\r\n.\r\n"},
		{"leading dots", ".\r\n..x\r\nx.\r\n.", "..\r\n...x\r\nx.\r\n..\r\n.\r\n"},
		{"blank lines", "a\r\n\r\n\nb", "a\r\n\r\n\r\nb\r\n.\r\n"},
		{"cr inside a line stays", "a\rb\r\n", "a\rb\r\n.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			dotStuff(&w, []byte(tc.in))
			require.Equal(t, tc.want, w.String())
		})
	}
}

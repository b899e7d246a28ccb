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

func TestMessageNeedingNoStuffingIsItsOwnContentWithTheFinalDot(t *testing.T) {
	t.Parallel()
	// Every message of up to six bytes of CR, LF, a dot and a letter.
	alphabet := []byte{'\r', '\n', '.', 'a'}
	msg := make([]byte, 0, 6)
	var walk func()
	walk = func() {
		var w bytes.Buffer
		dotStuff(&w, msg)
		if !needsStuffing(msg) {
			require.Equal(t, string(msg)+".\r\n", w.String(), "%q", msg)
		}
		if len(msg) == cap(msg) {
			return
		}
		for _, b := range alphabet {
			msg = append(msg, b)
			walk()
			msg = msg[:len(msg)-1]
		}
	}
	walk()
	require.False(t, needsStuffing([]byte("Subject: hi\r\n\r\nHello.\r\n")))
	require.True(t, needsStuffing([]byte("Subject: hi\r\n\r\n.hidden\r\n")))
	require.True(t, needsStuffing([]byte("Subject: hi\n\nbare line feeds\n")))
	require.True(t, needsStuffing([]byte("Subject: hi\r\n\r\nno last line end")))
}

func TestWithCRLFEndsEveryLineInCRLF(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "",
		"a\r\nb\r\n":        "a\r\nb\r\n",
		"a\nb\n":            "a\r\nb\r\n",
		"a\r\nb\nc":         "a\r\nb\r\nc",
		".dots\r\nstay\r\n": ".dots\r\nstay\r\n",
	} {
		require.Equal(t, want, string(withCRLF([]byte(in))), "%q", in)
	}
}

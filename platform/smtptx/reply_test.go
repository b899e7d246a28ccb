package smtptx

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReplyIsReadToItsLastLineAndNoFurther(t *testing.T) {
	t.Parallel()
	r := bufio.NewReader(strings.NewReader("250-first\r\n250-second\r\n250 last\r\n550 5.1.1 no such user\r\n250\r\n"))
	code, text, err := readReply(r)
	require.NoError(t, err)
	require.Equal(t, 250, code)
	require.Equal(t, "first\nsecond\nlast", text)
	code, text, err = readReply(r)
	require.NoError(t, err)
	require.Equal(t, 550, code)
	require.Equal(t, "5.1.1 no such user", text)
	code, text, err = readReply(r)
	require.NoError(t, err, "a bare code is a reply")
	require.Equal(t, 250, code)
	require.Empty(t, text)
	_, _, err = readReply(r)
	require.ErrorIs(t, err, io.EOF)
}

func TestRepliesOutOfTheGrammarAreMalformed(t *testing.T) {
	t.Parallel()
	for _, out := range []string{
		"199 odd\r\n", "699 odd\r\n", "260 odd\r\n", "25 short\r\n", "2500 long\r\n", "\r\n", "abc def\r\n",
		"250-a\r\n251 b\r\n250 c\r\n", // a line of another code inside a multiline reply
		strings.Repeat("250-x\r\n", maxReplyLines) + "250 x\r\n",
		"250 " + strings.Repeat("x", maxReplyLine) + "\r\n",
	} {
		_, _, err := readReply(bufio.NewReader(strings.NewReader(out)))
		require.ErrorIs(t, err, errMalformedReply, "%q", out)
		require.Equal(t, "malformed reply", failureKind(err))
	}
	_, _, err := readReply(bufio.NewReader(strings.NewReader("250 ok")))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a reply cut off before its line end")
}

func TestReplyLinesLongerThanTheReadersBufferAreGathered(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	r := bufio.NewReaderSize(strings.NewReader("550-"+long+"\r\n550 5.1.1 "+long+"\r\n250 "+long+"\r\n"), 16)
	code, text, err := readReply(r)
	require.NoError(t, err)
	require.Equal(t, 550, code)
	require.Equal(t, long+"\n5.1.1 "+long, text)
	code, text, err = readReplyUnless(r, 2)
	require.NoError(t, err)
	require.Equal(t, 250, code)
	require.Empty(t, text, "the text of the reply expected is not kept")
}

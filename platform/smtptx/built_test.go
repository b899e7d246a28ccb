package smtptx_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/smtptx"
)

// A message built ahead of its transaction goes out as a message given as
// content does, in every kind of transaction, and can be sent again (a
// retry on a new connection) before it is released.
func TestABuiltMessageGoesOutAsBuiltAndCanBeSentAgain(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]fakeConfig{
		"stepwise":   {},
		"pipelining": {pipelining: true},
		"chunking":   {pipelining: true, chunking: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, msg := range []string{
				content,                             // a line starts with a dot: stuffed for DATA
				"Subject: plain\r\n\r\nno dots\r\n", // needs nothing: sent as built
				"Subject: lf\n\nbare line feeds\n",  // CRLF on the wire
			} {
				srv := newFakeServer(t, cfg)
				c := srv.dial(t)
				built, err := smtptx.Build(strings.NewReader(msg))
				require.NoError(t, err)
				require.Equal(t, msg, string(built.Bytes()), "Bytes is the message as built")

				require.NoError(t, smtptx.Send(c, from, to, built, timeout))
				require.NoError(t, smtptx.Send(c, from, to, built, timeout), "a built message can be sent again")
				built.Release()

				want := strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
				require.Equal(t, []string{want, want}, srv.got().messages)
			}
		})
	}
}

func TestBuildingFromFailingOrNoContentIsAnError(t *testing.T) {
	t.Parallel()
	_, err := smtptx.Build(nil)
	require.Error(t, err)
	_, err = smtptx.Build(errWriterTo{})
	require.Error(t, err)
}

type errWriterTo struct{}

func (errWriterTo) WriteTo(io.Writer) (int64, error) {
	return 0, errors.New("no content")
}

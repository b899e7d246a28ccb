package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSinkExtensionsDefaultToNoneAndPipeliningWithChunking(t *testing.T) {
	t.Parallel()
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []sinkKind{sinkNone, sinkChunking}, o.sinkKinds)
	require.Equal(t, 1, o.instances)
}

func TestSinkExtensionsNameOneKindAUseOrSeveralSeparatedBySemicolons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []sinkKind
	}{
		{[]string{"-sink-extensions", "pipelining"}, []sinkKind{sinkPipelining}},
		{[]string{"-sink-extensions", "none", "-sink-extensions", "pipelining,chunking"}, []sinkKind{sinkNone, sinkChunking}},
		{[]string{"-sink-extensions", "pipelining,chunking;none;pipelining"}, []sinkKind{sinkChunking, sinkNone, sinkPipelining}},
		{[]string{"-sink-extensions", "none;none", "-sink-extensions", "none"}, []sinkKind{sinkNone}},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		require.NoError(t, err, "%q", tc.args)
		require.Equal(t, tc.want, o.sinkKinds, "%q", tc.args)
	}
	for _, args := range [][]string{
		{"-sink-extensions", "chunking"},
		{"-sink-extensions", "pipelining,8bitmime"},
		{"-sink-extensions", ";"},
		{"-instances", "0"},
	} {
		_, err := parseFlags(args, io.Discard)
		require.Error(t, err, "%q", args)
	}
}

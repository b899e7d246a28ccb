package templating

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSourceCountsLinesBeforeBodyAndSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text                string
		subject, body             string
		hasSubject                bool
		subjectOffset, bodyOffset int
	}{
		{name: "no front matter", text: "Текст\n", body: "Текст\n"},
		{name: "dashes later are body", text: "Текст\n---\nещё\n", body: "Текст\n---\nещё\n"},
		{
			name: "subject", text: "---\nsubject: \"Тема {{ x }}\"\n---\nТекст\n",
			subject: "Тема {{ x }}", hasSubject: true, subjectOffset: 1, body: "Текст\n", bodyOffset: 3,
		},
		{
			name: "comments and other keys", text: "---\n# note\nid: 7\n\nsubject: Тема\n---\n\nТекст",
			subject: "Тема", hasSubject: true, subjectOffset: 4, body: "\nТекст", bodyOffset: 6,
		},
		{
			name: "block subject", text: "---\nsubject: >\n  Тема\n---\nТекст",
			subject: "Тема\n", hasSubject: true, subjectOffset: 2, body: "Текст", bodyOffset: 4,
		},
		{name: "empty front matter", text: "---\n---\nТекст", body: "Текст", bodyOffset: 2},
		{name: "nothing after front matter", text: "---\nsubject: s\n---", subject: "s", hasSubject: true, subjectOffset: 1, bodyOffset: 3},
		{
			name: "CRLF, BOM and trailing spaces", text: "\uFEFF--- \r\nsubject: s\r\n---\t\r\nТекст\r\n",
			subject: "s", hasSubject: true, subjectOffset: 1, body: "Текст\n", bodyOffset: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := parseSource("email/x.md", []byte(tt.text))

			require.NoError(t, err)
			assert.Equal(t, source{
				subject: tt.subject, hasSubject: tt.hasSubject, subjectOffset: tt.subjectOffset,
				body: tt.body, bodyOffset: tt.bodyOffset,
			}, src)
		})
	}
}

func TestHeaderLine(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a b c\u00a0d", headerLine(" a\r\n\tb \u2028 c\u00a0d\x00"))
}

func TestPlainText(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "  # a\n\nb\n\nc", plainText("\n \n  # a  \n\n\n \nb\n\nc\n\n"))
	assert.Equal(t, "", plainText("\n\n"))
}

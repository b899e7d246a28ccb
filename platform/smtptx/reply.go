package smtptx

import (
	"bufio"
	"errors"
	"io"
	"net/textproto"
	"strings"
)

// Bounds of one reply: RFC 5321 4.5.3.1.5 allows 512 octets a line; real
// servers write longer texts, but not this long.
const (
	maxReplyLine  = 2048
	maxReplyLines = 100
)

// errMalformedReply is a reply out of RFC 5321's grammar. Its text quotes
// nothing of the reply, which may hold an address.
var errMalformedReply = textproto.ProtocolError("malformed reply")

// readReply reads one reply (RFC 5321 4.2): lines "<code>-<text>", then a
// last line "<code> <text>" or "<code>", all with the same code of three
// digits 2-5, 0-5, 0-9, each ending in CRLF (or LF). It returns the code
// and the texts of the lines joined by "\n", and reads nothing past the
// reply's last line, so that the reply to the next pipelined command is
// left whole. A line that breaks these rules (textproto's ReadResponse
// takes 1xx and 6xx-9xx codes, absorbs lines of another code into a
// multiline reply and reads on, and refuses a bare "250") is an
// errMalformedReply: the connection is out of step. An unfinished line at
// the end of the input is io.ErrUnexpectedEOF.
func readReply(r *bufio.Reader) (int, string, error) {
	var text strings.Builder
	code := 0
	for n := 1; ; n++ {
		line, err := readReplyLine(r)
		if err != nil {
			return 0, "", err
		}
		c, last, ok := parseReplyLine(line)
		if !ok || (code != 0 && c != code) || n > maxReplyLines {
			return 0, "", errMalformedReply
		}
		if code != 0 {
			text.WriteByte('\n')
		}
		code = c
		if len(line) > 3 {
			text.WriteString(line[4:])
		}
		if last {
			return code, text.String(), nil
		}
	}
}

// readReplyLine reads one line of at most maxReplyLine bytes and returns it
// without its CRLF or LF.
func readReplyLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case len(line) > maxReplyLine:
			return "", errMalformedReply
		case err == nil:
			line = line[:len(line)-1]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			return string(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF) && len(line) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// parseReplyLine returns the code of a reply line and whether it is the
// reply's last; ok is false for a line out of the grammar.
func parseReplyLine(line string) (code int, last, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
		return 0, false, false
	}
	if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	return code, len(line) == 3 || line[3] == ' ', true
}

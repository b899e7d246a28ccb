package smtptx

import (
	"bufio"
	"errors"
	"io"
	"net/textproto"
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
	return readReplyUnless(r, 0)
}

// readReplyUnless is readReply without the text of a reply of class skip
// (2 for 2xx): the text of the reply a command expects is never used, and
// reading it allocates nothing.
func readReplyUnless(r *bufio.Reader, skip int) (int, string, error) {
	var text []byte
	code, keep := 0, false
	for n := 1; ; n++ {
		line, err := readReplyLine(r)
		if err != nil {
			return 0, "", err
		}
		c, last, ok := parseReplyLine(line)
		if !ok || (code != 0 && c != code) || n > maxReplyLines {
			return 0, "", errMalformedReply
		}
		if code == 0 {
			code, keep = c, c/100 != skip
		} else if keep {
			text = append(text, '\n')
		}
		if keep && len(line) > 3 {
			text = append(text, line[4:]...)
		}
		if last {
			return code, string(text), nil
		}
	}
}

// readReplyLine reads one line of at most maxReplyLine bytes and returns it
// without its CRLF or LF. The line is valid until the next read of r.
func readReplyLine(r *bufio.Reader) ([]byte, error) {
	var long []byte // a line longer than r's buffer, gathered
	for {
		chunk, err := r.ReadSlice('\n')
		line := chunk
		if long != nil || errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			line = long
		}
		switch {
		case len(line) > maxReplyLine:
			return nil, errMalformedReply
		case err == nil:
			line = line[:len(line)-1]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// parseReplyLine returns the code of a reply line and whether it is the
// reply's last; ok is false for a line out of the grammar.
func parseReplyLine(line []byte) (code int, last, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
		return 0, false, false
	}
	if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, false, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	return code, len(line) == 3 || line[3] == ' ', true
}

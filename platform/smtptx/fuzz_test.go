package smtptx

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// replyModel reads the first reply of server output as RFC 5321 4.2 has
// it: lines "<code>-<text>" and a last line "<code> <text>" or "<code>",
// every one with the same code of three digits 2-5, 0-5, 0-9, each line
// ending in LF (CRLF on the wire), with at most maxReplyLines lines of
// at most maxReplyLine bytes. It returns the reply's code and text
// and how many bytes it takes; ok is false when the output does not start
// with a well-formed reply.
func replyModel(out []byte) (code int, text string, n int, ok bool) {
	var texts []string
	for {
		i := bytes.IndexByte(out[n:], '\n')
		if i < 0 {
			return 0, "", 0, false
		}
		if i+1 > maxReplyLine || len(texts) == maxReplyLines {
			return 0, "", 0, false
		}
		line := bytes.TrimSuffix(out[n:n+i], []byte("\r"))
		n += i + 1
		if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' ||
			len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			return 0, "", 0, false
		}
		c, _ := strconv.Atoi(string(line[:3]))
		if code != 0 && c != code {
			return 0, "", 0, false
		}
		code = c
		if len(line) > 3 {
			texts = append(texts, string(line[4:]))
		} else {
			texts = append(texts, "")
		}
		if len(line) == 3 || line[3] == ' ' {
			return code, string(bytes.Join(bytesOf(texts), []byte("\n"))), n, true
		}
	}
}

func bytesOf(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

var enhancedPattern = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// serverOutput is a connection whose server wrote out; writes are dropped.
type serverOutput struct{ *bytes.Reader }

func (serverOutput) Write(p []byte) (int, error) { return len(p), nil }
func (serverOutput) Close() error                { return nil }

// FuzzReadReply checks the reader of the server's replies: whatever the
// server writes, read takes one well-formed reply and not a byte more (so
// the reply to the next pipelined command is left for its own read), says
// yes exactly to a reply of the class asked for, carries the code and
// enhanced code of any other reply, and takes a malformed reply (a code
// out of RFC 5321's grammar, lines of a multiline reply with different
// codes, no line end) for no reply at all, which makes the connection
// Broken. The corpus is replies of real servers (testdata/fuzz/FuzzReadReply).
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 2.1.0 Ok\r\n", "250-first\r\n250-second\r\n250 last\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n",
		"550 5.1.1 <anna@example.com>: Recipient address rejected\r\n250 2.0.0 Ok\r\n", "421 4.4.2 idle timeout\r\n",
		"250\r\n", "250 ok\n354 go\n", "199 odd\r\n", "699 odd\r\n", "260 odd\r\n", "250-a\r\n251 b\r\n250 c\r\n", "250-a\r\n", "250 ok",
		"2500 ok\r\n", "25 ok\r\n", "\r\n", "452-4.5.3 too many\r\n452 4.5.3 recipients\r\n",
	} {
		f.Add([]byte(s), uint8(2))
	}
	f.Add([]byte("354 go ahead\r\n"), uint8(3))
	f.Add([]byte(strings.Repeat("250-x\r\n", maxReplyLines-1)+"250 x\r\n"), uint8(2))
	f.Add([]byte(strings.Repeat("250-x\r\n", maxReplyLines)+"250 x\r\n"), uint8(2))
	f.Add([]byte("250 "+strings.Repeat("x", maxReplyLine-6)+"\r\n"), uint8(2))
	f.Add([]byte("250 "+strings.Repeat("x", maxReplyLine-5)+"\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, out []byte, class uint8) {
		class = 2 + class%2 // read is asked for 2xx or 3xx (354)
		conn := serverOutput{bytes.NewReader(out)}
		tx := transaction{text: textproto.NewConn(conn)}
		e := tx.read(StageMail, int(class))
		taken := len(out) - conn.Len() - tx.text.R.Buffered()

		code, text, n, ok := replyModel(out)
		switch {
		case !ok:
			if e == nil || e.Code != 0 || !e.Broken() {
				t.Fatalf("malformed %q read as %+v", out, e)
			}
		case taken != n:
			t.Fatalf("%q: read took %d bytes, the reply is %d", out, taken, n)
		case code/100 == int(class):
			if e != nil {
				t.Fatalf("%q: class %d reply refused: %v", out, class, e)
			}
		case e == nil || e.Code != code:
			t.Fatalf("%q: reply %d read as %+v", out, code, e)
		default:
			if e.Enhanced != enhancedCode(text) {
				t.Fatalf("%q: enhanced code %q, want %q", out, e.Enhanced, enhancedCode(text))
			}
			var te *textproto.Error
			if !errors.As(e, &te) || te.Code != code || te.Msg != text {
				t.Fatalf("%q: error %#v does not carry the reply", out, e.Err)
			}
		}
		if ok && taken > n {
			t.Fatalf("%q: read past the reply", out)
		}
		if !ok && errors.Is(e, io.EOF) && taken > len(out) {
			t.Fatalf("%q: took more than there is", out)
		}

		enh := enhancedCode(string(out))
		if enh != "" && (!enhancedPattern.MatchString(enh) || !bytes.HasPrefix(out, []byte(enh)) ||
			len(out) > len(enh) && out[len(enh)] != ' ' && out[len(enh)] != '\n') {
			t.Fatalf("enhanced code %q taken from %q", enh, out)
		}
	})
}

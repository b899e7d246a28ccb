package smtptx_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// fakeServer is an in-process SMTP server on 127.0.0.1 that behaves like a
// real one (RCPT needs MAIL, DATA needs a recipient) and records what it
// got. Like a pipelining server it holds its replies until it has read
// every command the client sent and would have to wait for more; each such
// wait is one round trip of the client, and the commands read before it
// form one batch.
type fakeServer struct {
	ln net.Listener
	fakeConfig

	mu       sync.Mutex
	commands []string   // every command line, in order
	batches  [][]string // the commands (and "<content>") of each round trip
	messages []string   // the accepted messages, dot-stuffing undone
	wire     []string   // every message as it was on the wire
	accepted int        // the accepted messages, counted in discard mode too
	wg       sync.WaitGroup
}

// fakeConfig is how a fakeServer behaves.
type fakeConfig struct {
	// pipelining offers PIPELINING in the EHLO reply.
	pipelining bool
	// chunking offers CHUNKING (BDAT) in the EHLO reply.
	chunking bool
	// answer returns the reply at stage ("mail", "rcpt", "data",
	// "content") of transaction tx (from 1); "" means the usual one.
	answer func(stage string, tx int) string
	// hangUp closes the connection without a reply: "mail" when MAIL
	// arrives, "content" once the message has arrived, "idle" after the
	// reply to the first message, "421" after the reply to the first
	// message and a 421 (as a server's idle timeout does), "chunk" once a
	// BDAT chunk has arrived, after sending the replies to MAIL and RCPT.
	hangUp string
	// mute stops answering from MAIL on and reads on until the client
	// hangs up.
	mute bool
	// discard records nothing but the count of accepted messages, so that
	// a benchmark can send for as long as it likes.
	discard bool
}

func newFakeServer(t *testing.T, cfg fakeConfig) *fakeServer {
	t.Helper()
	s, err := startFakeServer(cfg)
	require.NoError(t, err)
	t.Cleanup(s.close)
	return s
}

// startFakeServer listens on 127.0.0.1:0 and serves until close.
func startFakeServer(cfg fakeConfig) (*fakeServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &fakeServer{ln: ln, fakeConfig: cfg}
	s.wg.Go(s.serve)
	return s, nil
}

// close stops listening and waits for the sessions, which end when their
// clients hang up.
func (s *fakeServer) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// record appends line to the list at *to unless the server discards.
func (s *fakeServer) record(to *[]string, line string) {
	if s.discard {
		return
	}
	s.mu.Lock()
	*to = append(*to, line)
	s.mu.Unlock()
}

// dial opens a go-mail SMTP client to s that has said EHLO.
func (s *fakeServer) dial(t *testing.T) *gosmtp.Client {
	t.Helper()
	c, err := gosmtp.Dial(s.ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Hello("client.test"))
	return c
}

func (s *fakeServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			sess := &session{srv: s, conn: c, w: bufio.NewWriter(c)}
			sess.run(bufio.NewReader(sess))
		})
	}
}

// record is a snapshot of what the server got.
type record struct {
	commands []string
	batches  [][]string
	messages []string
	wire     []string
}

func (s *fakeServer) got() record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return record{
		commands: append([]string(nil), s.commands...), batches: append([][]string(nil), s.batches...),
		messages: append([]string(nil), s.messages...), wire: append([]string(nil), s.wire...),
	}
}

// session is one connection. It is also the io.Reader under the session's
// bufio.Reader, which calls it only when it has nothing buffered left: the
// moment to send the replies held so far.
type session struct {
	srv   *fakeServer
	conn  net.Conn
	w     *bufio.Writer
	batch []string
}

func (s *session) Read(p []byte) (int, error) {
	if err := s.flush(); err != nil {
		return 0, err
	}
	return s.conn.Read(p)
}

// flush sends the replies held, and records the commands they answer as a
// batch.
func (s *session) flush() error {
	if s.w.Buffered() == 0 {
		return nil
	}
	if len(s.batch) > 0 && !s.srv.discard {
		s.srv.mu.Lock()
		s.srv.batches = append(s.srv.batches, s.batch)
		s.srv.mu.Unlock()
		s.batch = nil
	}
	return s.w.Flush()
}

func (s *session) reply(lines ...string) {
	for _, l := range lines {
		_, _ = s.w.WriteString(l + "\r\n")
	}
}

func (s *session) pick(stage string, tx int, usual string) string {
	if s.srv.answer != nil {
		if r := s.srv.answer(stage, tx); r != "" {
			return r
		}
	}
	return usual
}

func (s *session) run(r *bufio.Reader) {
	s.reply("220 fake ESMTP")
	tx, inTx, rcpts := 0, false, 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\r\n")
		if !s.srv.discard {
			s.batch = append(s.batch, line)
		}
		s.srv.record(&s.srv.commands, line)
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		if s.srv.mute && tx > 0 {
			continue
		}
		var rep string
		switch {
		case verb == "EHLO":
			ext := []string{"250-fake", "250-8BITMIME", "250-SMTPUTF8"}
			if s.srv.pipelining {
				ext = append(ext, "250-PIPELINING")
			}
			if s.srv.chunking {
				ext = append(ext, "250-CHUNKING")
			}
			s.reply(append(ext, "250 ENHANCEDSTATUSCODES")...)
			continue
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			tx++
			if s.srv.hangUp == "mail" {
				return
			}
			if s.srv.mute {
				continue
			}
			rep = s.pick("mail", tx, "250 2.1.0 ok")
			inTx, rcpts = rep[0] == '2', 0
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			rep = "503 5.5.1 MAIL first"
			if inTx {
				rep = s.pick("rcpt", tx, "250 2.1.5 ok")
				if rep[0] == '2' {
					rcpts++
				}
			}
		case verb == "DATA":
			usual := "354 go ahead"
			if !inTx || rcpts == 0 {
				usual = "554 5.5.1 no valid recipients"
			}
			rep = s.pick("data", tx, usual)
			s.reply(rep)
			if !strings.HasPrefix(rep, "354") {
				break
			}
			wire, err := readContent(r)
			if err != nil || !s.message(wire, unstuff(wire), inTx && rcpts > 0, tx) {
				return
			}
			inTx = false
			continue
		case verb == "BDAT" && s.srv.chunking:
			// "BDAT <size> LAST": the chunk follows, read whatever came
			// before.
			var size int
			var last string
			if _, err := fmt.Sscanf(line, "BDAT %d %s", &size, &last); err != nil || last != "LAST" || size < 0 {
				rep = "501 5.5.4 only BDAT <size> LAST"
				break
			}
			chunk := make([]byte, size)
			if _, err := io.ReadFull(r, chunk); err != nil || !s.message(string(chunk), string(chunk), inTx && rcpts > 0, tx) {
				return
			}
			inTx = false
			continue
		case verb == "RSET":
			inTx = false
			rep = "250 2.0.0 ok"
		case verb == "NOOP":
			rep = "250 2.0.0 ok"
		case verb == "QUIT":
			s.reply("221 2.0.0 bye")
			_ = s.flush()
			return
		default:
			rep = "502 5.5.2 unknown command"
		}
		if verb != "DATA" {
			s.reply(rep)
		}
		if strings.HasPrefix(rep, "421") {
			_ = s.flush()
			return
		}
	}
}

// message takes a message that arrived as wire (text once unstuffed) in
// transaction tx, valid when it has a recipient: it records it, replies and
// reports whether the session goes on (hangUp may end it).
func (s *session) message(wire, text string, valid bool, tx int) bool {
	if !s.srv.discard {
		s.batch = append(s.batch, "<content>")
	}
	s.srv.record(&s.srv.wire, wire)
	switch s.srv.hangUp {
	case "content":
		return false
	case "chunk":
		_ = s.flush() // the replies held before the message, not its own
		return false
	}
	usual := "250 2.0.0 queued"
	if !valid {
		usual = "554 5.5.1 no valid recipients"
	}
	rep := s.pick("content", tx, usual)
	if rep[0] == '2' {
		s.srv.record(&s.srv.messages, text)
		s.srv.mu.Lock()
		s.srv.accepted++
		s.srv.mu.Unlock()
	}
	s.reply(rep)
	switch s.srv.hangUp {
	case "idle":
		_ = s.flush()
		return false
	case "421":
		s.reply("421 4.4.2 fake closing: idle timeout")
		_ = s.flush()
		return false
	}
	return true
}

// readContent reads a message up to its lone dot and returns it as it was
// on the wire, without the dot line.
func readContent(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}

// unstuff undoes dot-stuffing: a line's leading dot is dropped.
func unstuff(wire string) string {
	lines := strings.SplitAfter(wire, "\r\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, ".")
	}
	return strings.Join(lines, "")
}

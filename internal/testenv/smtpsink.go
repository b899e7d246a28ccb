package testenv

import (
	"bufio"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// SMTPMessage is one message an SMTPSink accepted.
type SMTPMessage struct {
	To        []string
	MessageID string
	Subject   string
}

// SMTPSink is a minimal SMTP server on loopback that accepts everything
// and remembers what it got: enough for go-mail, fast enough for mailings
// of thousands, with no dependency. Use Mailpit to check real MIME.
type SMTPSink struct {
	ln       net.Listener
	mu       sync.Mutex
	messages []SMTPMessage
	conns    int
	rcpts    int
	// rcptReply, when set, answers the n-th RCPT TO (from 1) instead of
	// 250 when it returns a reply (see AnswerRCPT).
	rcptReply func(n int) string
	wg        sync.WaitGroup
}

// AnswerRCPT makes the sink answer the n-th RCPT TO it gets (counting from
// 1, on every connection) with reply(n), such as "550 5.1.1 no such user"
// or "451 4.3.0 try later", or accept it when reply(n) is "".
func (s *SMTPSink) AnswerRCPT(reply func(n int) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptReply = reply
}

// StartSMTPSink starts a sink on 127.0.0.1:0, stopped when t ends.
func StartSMTPSink(t testing.TB) *SMTPSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp sink: %v", err)
	}
	s := &SMTPSink{ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

// Addr is the sink's host:port.
func (s *SMTPSink) Addr() string { return s.ln.Addr().String() }

// Messages returns what the sink accepted so far.
func (s *SMTPSink) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.messages...)
}

// Count returns how many messages the sink accepted.
func (s *SMTPSink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

// Connections returns how many SMTP connections were opened.
func (s *SMTPSink) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *SMTPSink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
		}()
	}
}

func (s *SMTPSink) session(c net.Conn) {
	defer c.Close()
	tp := textproto.NewConn(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			if err := tp.PrintfLine("%s", l); err != nil {
				return false
			}
		}
		return true
	}
	if !reply("220 sink ESMTP ready") {
		return
	}
	var to []string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			reply("250-sink", "250-8BITMIME", "250 SMTPUTF8")
		case "MAIL":
			to = nil
			reply("250 2.1.0 ok")
		case "RCPT":
			s.mu.Lock()
			s.rcpts++
			answer := ""
			if s.rcptReply != nil {
				answer = s.rcptReply(s.rcpts)
			}
			s.mu.Unlock()
			if answer != "" {
				reply(answer)
				continue
			}
			addr := line[strings.Index(line, ":")+1:]
			to = append(to, strings.Trim(strings.TrimSpace(addr), "<>"))
			reply("250 2.1.5 ok")
		case "DATA":
			reply("354 go ahead")
			msg, err := readData(tp.Reader.R)
			if err != nil {
				return
			}
			msg.To = to
			s.mu.Lock()
			s.messages = append(s.messages, msg)
			s.mu.Unlock()
			reply("250 2.0.0 queued")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default: // RSET, NOOP and the rest
			reply("250 2.0.0 ok")
		}
	}
}

// readData reads a DATA body up to the lone dot and picks two headers.
func readData(r *bufio.Reader) (SMTPMessage, error) {
	var msg SMTPMessage
	inHeaders := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return msg, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "." {
			return msg, nil
		}
		if !inHeaders {
			continue
		}
		if line == "" {
			inHeaders = false
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(name) {
		case "message-id":
			msg.MessageID = strings.Trim(strings.TrimSpace(value), "<>")
		case "subject":
			msg.Subject = strings.TrimSpace(value)
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sinkKind is the SMTP extensions a discard sink offers besides 8BITMIME,
// SMTPUTF8 and SIZE: none (as Mailpit, and go-mail's own exchange),
// PIPELINING (RFC 2920), or PIPELINING and CHUNKING (RFC 3030, as Postfix
// by default). CHUNKING alone is not a kind: smtptx sends BDAT only
// pipelined.
type sinkKind struct {
	pipelining, chunking bool
}

// The sink kinds, in the order of -sink-extensions' help.
var (
	sinkNone       = sinkKind{}
	sinkPipelining = sinkKind{pipelining: true}
	sinkChunking   = sinkKind{pipelining: true, chunking: true}
)

// String names the kind as -sink-extensions does: "none", "pipelining",
// "pipelining,chunking".
func (k sinkKind) String() string {
	switch {
	case k.chunking:
		return "pipelining,chunking"
	case k.pipelining:
		return "pipelining"
	default:
		return "none"
	}
}

// label is String for a file name: "none", "pipelining",
// "pipelining+chunking".
func (k sinkKind) label() string { return strings.ReplaceAll(k.String(), ",", "+") }

// MarshalText makes a kind its name in JSON.
func (k sinkKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// parseSinkKind reads one kind: "none", or the extensions offered,
// comma-separated in any order and case ("pipelining", "chunking,
// pipelining").
func parseSinkKind(s string) (sinkKind, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "none") {
		return sinkNone, nil
	}
	var k sinkKind
	for ext := range strings.SplitSeq(s, ",") {
		switch strings.ToLower(strings.TrimSpace(ext)) {
		case "pipelining":
			k.pipelining = true
		case "chunking":
			k.chunking = true
		default:
			return k, fmt.Errorf("%q: name none, pipelining or pipelining,chunking", s)
		}
	}
	if k.chunking && !k.pipelining {
		return k, fmt.Errorf("%q: CHUNKING is offered with PIPELINING only (smtptx sends BDAT pipelined): pipelining,chunking", s)
	}
	return k, nil
}

// ehlo is the sink's reply to EHLO.
func (k sinkKind) ehlo() []string {
	lines := []string{"250-bench-sink"}
	if k.pipelining {
		lines = append(lines, "250-PIPELINING")
	}
	if k.chunking {
		lines = append(lines, "250-CHUNKING")
	}
	return append(lines, "250-8BITMIME", "250-SMTPUTF8", "250 SIZE 10485760")
}

// discardSink is an SMTP server on loopback that accepts every message and
// keeps only counters: messages, recipients, connections, bytes, the time
// of the first and the last message, and one bit per benchmark recipient
// (addresses u<index>@bench.example) to tell distinct recipients from
// duplicates. Its memory does not grow with the number of messages.
type discardSink struct {
	ln    net.Listener
	kind  sinkKind
	start time.Time // the clock the first/last times are read against
	wg    sync.WaitGroup

	messages    atomic.Int64
	bdat        atomic.Int64 // messages that came in BDAT chunks
	recipients  atomic.Int64
	connections atomic.Int64
	bytes       atomic.Int64
	distinct    atomic.Int64
	foreign     atomic.Int64 // recipients that are not benchmark users
	noops       atomic.Int64
	resets      atomic.Int64
	outOfTurn   atomic.Int64 // commands sent before the reply they had to wait for
	firstNanos  atomic.Int64 // since start, +1 so that zero means "none yet"
	lastNanos   atomic.Int64

	seen []atomic.Uint64 // bit i-1 set when user i has received a message
}

// startDiscardSink listens on 127.0.0.1:0 and serves until close, offering
// the extensions of kind. users is the highest recipient index it tracks
// one by one.
func startDiscardSink(users int, kind sinkKind) (*discardSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &discardSink{ln: ln, kind: kind, start: time.Now(), seen: make([]atomic.Uint64, users/64+1)}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// addr is the sink's host:port.
func (s *discardSink) addr() string { return s.ln.Addr().String() }

// close stops accepting and waits for the open sessions to end, which they
// do when their clients hang up.
func (s *discardSink) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// sinkCounts is a snapshot of a discardSink's counters.
type sinkCounts struct {
	Extensions  sinkKind `json:"extensions"`
	Messages    int64    `json:"messages"`
	BDAT        int64    `json:"bdat_messages"`
	Recipients  int64    `json:"recipients"`
	Distinct    int64    `json:"distinct_recipients"`
	Foreign     int64    `json:"foreign_recipients"`
	Connections int64    `json:"connections"`
	Bytes       int64    `json:"bytes"`
	Noops       int64    `json:"noop_commands"`
	Resets      int64    `json:"rset_commands"`
	// OutOfTurn is the commands (or message content) that arrived before
	// the reply they had to wait for: pipelining the sink did not offer.
	OutOfTurn int64 `json:"out_of_turn"`
}

func (s *discardSink) counts() sinkCounts {
	return sinkCounts{
		Extensions: s.kind, Messages: s.messages.Load(), BDAT: s.bdat.Load(), Recipients: s.recipients.Load(),
		Distinct: s.distinct.Load(), Foreign: s.foreign.Load(), Connections: s.connections.Load(), Bytes: s.bytes.Load(),
		Noops: s.noops.Load(), Resets: s.resets.Load(), OutOfTurn: s.outOfTurn.Load(),
	}
}

// firstAndLast returns when the first and the last message were accepted;
// ok is false before the first.
func (s *discardSink) firstAndLast() (first, last time.Time, ok bool) {
	f, l := s.firstNanos.Load(), s.lastNanos.Load()
	if f == 0 {
		return time.Time{}, time.Time{}, false
	}
	return s.start.Add(time.Duration(f - 1)), s.start.Add(time.Duration(l - 1)), true
}

func (s *discardSink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.connections.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(c)
		}()
	}
}

var errLineTooLong = errors.New("smtp line too long")

// session speaks just enough SMTP for go-mail and smtptx: EHLO, MAIL,
// RCPT, DATA, BDAT, RSET, NOOP, QUIT, with the extensions of the sink's
// kind. It holds its replies until it has read all the input the client
// sent (see flushingReader): the replies to a pipelined MAIL, RCPT and DATA
// go out in one write, and a client that does not pipeline gets each reply
// at once. It takes what a client sends out of turn as a real server
// would (a server that offers no PIPELINING may also refuse it, as
// Postfix's smtpd_forbid_unauth_pipelining does), and counts it: a command
// that came with the one before when PIPELINING is not offered, or the
// message's content with DATA. BDAT is refused (502) unless CHUNKING is
// offered.
func (s *discardSink) session(c net.Conn) {
	w := bufio.NewWriterSize(c, 4<<10)
	r := bufio.NewReaderSize(flushingReader{conn: c, w: w}, 32<<10)
	reply := func(lines ...string) {
		for _, l := range lines {
			_, _ = w.WriteString(l)
			_, _ = w.WriteString("\r\n")
		}
	}
	reply("220 bench-sink ESMTP")
	var rcpts []int   // user indices of the current transaction, 0 for foreign
	var chunked int64 // bytes of the BDAT chunks of the current transaction
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		verb := line
		if i := bytes.IndexByte(line, ' '); i >= 0 {
			verb = line[:i]
		}
		isData, isBDAT := equalFold(verb, "DATA"), equalFold(verb, "BDAT") && s.kind.chunking
		// Input after this command is out of turn when its reply must be
		// awaited: every command's without PIPELINING, DATA's always
		// (RFC 2920: DATA ends a group, the content waits for the 354).
		// A BDAT chunk follows its command by design.
		if r.Buffered() > 0 && !isBDAT && (!s.kind.pipelining || isData) {
			s.outOfTurn.Add(1)
		}
		switch {
		case equalFold(verb, "EHLO"), equalFold(verb, "HELO"):
			reply(s.kind.ehlo()...)
		case equalFold(verb, "MAIL"):
			rcpts, chunked = rcpts[:0], 0
			reply("250 2.0.0 ok")
		case equalFold(verb, "RSET"):
			s.resets.Add(1)
			rcpts, chunked = rcpts[:0], 0
			reply("250 2.0.0 ok")
		case equalFold(verb, "RCPT"):
			rcpts = append(rcpts, userIndex(line))
			reply("250 2.1.5 ok")
		case isData:
			// The 354 goes out when the content is awaited: the client
			// sends it only then.
			reply("354 go ahead")
			n, err := discardData(r)
			if err != nil {
				return
			}
			s.accepted(rcpts, n, false)
			rcpts = rcpts[:0]
			reply("250 2.0.0 queued")
		case isBDAT:
			// "BDAT <size> [LAST]" (RFC 3030): the chunk follows the line.
			size, last, ok := bdatArgs(line)
			if !ok {
				reply("501 5.5.4 syntax: BDAT <size> [LAST]")
				continue
			}
			if _, err := r.Discard(int(size)); err != nil {
				return
			}
			chunked += size
			if !last {
				reply("250 2.0.0 chunk ok")
				continue
			}
			s.accepted(rcpts, chunked, true)
			rcpts, chunked = rcpts[:0], 0
			reply("250 2.0.0 queued")
		case equalFold(verb, "BDAT"):
			reply("502 5.5.1 CHUNKING not offered")
		case equalFold(verb, "QUIT"):
			reply("221 2.0.0 bye")
			_ = w.Flush()
			return
		case equalFold(verb, "NOOP"):
			s.noops.Add(1)
			reply("250 2.0.0 ok")
		default:
			reply("250 2.0.0 ok")
		}
	}
}

// flushingReader is the reader under a session's bufio.Reader, which reads
// it only when it has no input left to give: before the sink would wait
// for the client. It first sends the replies held, so that the client,
// which may be waiting for them, gets them, and the replies to commands
// that came together leave together.
type flushingReader struct {
	conn net.Conn
	w    *bufio.Writer
}

func (f flushingReader) Read(p []byte) (int, error) {
	if f.w.Buffered() > 0 {
		if err := f.w.Flush(); err != nil {
			return 0, err
		}
	}
	return f.conn.Read(p)
}

// accepted counts one message of size bytes to rcpts, which came in BDAT
// chunks or after DATA.
func (s *discardSink) accepted(rcpts []int, size int64, bdat bool) {
	s.messages.Add(1)
	if bdat {
		s.bdat.Add(1)
	}
	s.bytes.Add(size)
	for _, i := range rcpts {
		s.recipients.Add(1)
		if i < 1 || i > len(s.seen)*64 {
			s.foreign.Add(1)
			continue
		}
		word, bit := &s.seen[(i-1)/64], uint64(1)<<((i-1)%64)
		if word.Or(bit)&bit == 0 {
			s.distinct.Add(1)
		}
	}
	now := int64(time.Since(s.start)) + 1
	s.firstNanos.CompareAndSwap(0, now)
	for {
		last := s.lastNanos.Load()
		if now <= last || s.lastNanos.CompareAndSwap(last, now) {
			break
		}
	}
}

// readLine returns one CRLF-terminated command line without its ending;
// the slice is valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errLineTooLong
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// discardData reads a DATA body up to the line holding a lone dot and
// returns its size in bytes.
func discardData(r *bufio.Reader) (int64, error) {
	var n int64
	atLineStart := true
	for {
		chunk, err := r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
		if atLineStart && (bytes.Equal(chunk, []byte(".\r\n")) || bytes.Equal(chunk, []byte(".\n"))) {
			return n, nil
		}
		n += int64(len(chunk))
		atLineStart = err == nil // a full buffer leaves us mid-line
	}
}

// userIndex reads i from "RCPT TO:<u<i>@bench.example>"; 0 when the
// address is not a benchmark user's.
func userIndex(line []byte) int {
	at := bytes.Index(line, []byte("@bench.example"))
	lt := bytes.LastIndexByte(line, '<')
	if at < 0 || lt < 0 || lt+2 > at || line[lt+1] != 'u' {
		return 0
	}
	i, err := strconv.Atoi(string(line[lt+2 : at]))
	if err != nil || i < 1 {
		return 0
	}
	return i
}

// equalFold reports whether b is word in any case (ASCII).
func equalFold(b []byte, word string) bool {
	return len(b) == len(word) && bytes.EqualFold(b, []byte(word))
}

// bdatArgs reads "BDAT <size> [LAST]".
func bdatArgs(line []byte) (size int64, last, ok bool) {
	fields := bytes.Fields(line)
	if len(fields) < 2 || len(fields) > 3 {
		return 0, false, false
	}
	size, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil || size < 0 || size > 64<<20 {
		return 0, false, false
	}
	if len(fields) == 3 {
		if !equalFold(fields[2], "LAST") {
			return 0, false, false
		}
		last = true
	}
	return size, last, true
}

package smtptx_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/notifier/notifier/platform/smtptx"
	"github.com/notifier/notifier/platform/templating"
	"github.com/notifier/notifier/templates"
)

// serverEnv, set in the environment of this test binary, makes it serve a
// discarding fakeServer offering the extensions named ("none",
// "pipelining" or "pipelining,chunking") instead of running tests: the
// benchmarks run the server in another process, so that the CPU they
// measure is the client's alone.
const serverEnv = "SMTPTX_BENCH_SERVER"

// serverAddrEnv, when set, is the address of such a server started by
// hand, which the benchmarks use instead of starting one: valgrind
// (callgrind's instruction counts are the same from run to run, where
// times on a shared machine are not) fails on the SIGCHLD of a child
// process. Run only the sub-benchmarks of the server's extensions then:
//
//	SMTPTX_BENCH_SERVER=none ./smtptx.test &   # prints its address
//	SMTPTX_BENCH_SERVER_ADDR=<it> GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off \
//	  valgrind --tool=callgrind ./smtptx.test -test.run '^$' -test.bench 'Send/none/prebuilt' -test.benchtime 2000x
const serverAddrEnv = "SMTPTX_BENCH_SERVER_ADDR"

func TestMain(m *testing.M) {
	if ext := os.Getenv(serverEnv); ext != "" {
		os.Exit(serveForBenchmark(ext))
	}
	os.Exit(m.Run())
}

// serveForBenchmark serves a discarding fake server, prints its address on
// stdout and serves until stdin is closed.
func serveForBenchmark(ext string) int {
	cfg := fakeConfig{discard: true}
	switch ext {
	case "none":
	case "pipelining":
		cfg.pipelining = true
	case "pipelining,chunking":
		cfg.pipelining, cfg.chunking = true, true
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: none, pipelining or pipelining,chunking\n", serverEnv, ext)
		return 2
	}
	srv, err := startFakeServer(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(srv.ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.ln.Close() // the client has hung up: no session is left to wait for
	return 0
}

// serverProcess starts this test binary as a fake server offering ext and
// returns its address; it stops with the benchmark.
func serverProcess(b *testing.B, ext string) string {
	b.Helper()
	if addr := os.Getenv(serverAddrEnv); addr != "" {
		return addr
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+ext)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("the fake server process: %v", err)
	}
	return strings.TrimSpace(addr)
}

// dialFake opens a go-mail SMTP client to addr that has said EHLO.
func dialFake(addr string) (*gosmtp.Client, error) {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("client.test"); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// newMoviesMessage returns a function that builds a mailing's email as the
// notifier does, each time anew: the new_movies template (rendered once
// here), text and HTML, a Message-ID and a date.
func newMoviesMessage(b *testing.B) func() (*mail.Msg, error) {
	b.Helper()
	renderer, err := templating.New(templates.FS, "ru")
	if err != nil {
		b.Fatal(err)
	}
	rendered, err := renderer.Render("email/new_movies.md", map[string]any{
		"user":   map[string]any{"first_name": "Анна", "username": "user1"},
		"movies": []any{map[string]any{"title": "Чебурашка", "year": 2023, "description": "Добрая семейная комедия."}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return func() (*mail.Msg, error) {
		m := mail.NewMsg()
		if err := m.From("Notifier <noreply@cinema.example>"); err != nil {
			return nil, err
		}
		if err := m.To("u1@bench.example"); err != nil {
			return nil, err
		}
		m.Subject(rendered.Subject)
		m.SetMessageIDWithValue("bench-1@bench.example")
		m.SetDate()
		m.SetBodyString(mail.TypeTextPlain, rendered.Text)
		m.AddAlternativeString(mail.TypeTextHTML, rendered.HTML)
		return m, nil
	}
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchConns is how many connections BenchmarkSend sends over at once, as
// the notifier's bulk lane does (delivery.connections.bulk).
const benchConns = 10

// BenchmarkSend sends the new_movies email over benchConns kept
// connections at once to a server in another process that offers no
// extension ("none"), PIPELINING ("pipelining"), or PIPELINING and
// CHUNKING ("chunking"). Besides the time it reports cpu-ns/op, the CPU
// (user and system) this process spent a message: the client's cost, which
// on a busy machine varies less than the time. "prebuilt" sends the
// message's bytes, the transaction alone; "msg" builds a *mail.Msg for each
// message and sends it, as the notifier does (the build and go-mail's MIME
// writing are the same on every path).
func BenchmarkSend(b *testing.B) {
	build := newMoviesMessage(b)
	m, err := build()
	if err != nil {
		b.Fatal(err)
	}
	var raw bytes.Buffer
	if _, err := m.WriteTo(&raw); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []struct{ name, ext string }{
		{"none", "none"}, {"pipelining", "pipelining"}, {"chunking", "pipelining,chunking"},
	} {
		for _, content := range []string{"prebuilt", "msg"} {
			b.Run(kind.name+"/"+content, func(b *testing.B) {
				addr := serverProcess(b, kind.ext)
				clients := make(chan *gosmtp.Client, benchConns)
				for range benchConns {
					c, err := dialFake(addr)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					clients <- c
				}
				b.SetBytes(int64(raw.Len()))
				b.ReportAllocs()
				b.SetParallelism((benchConns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				cpu := processCPU(b)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					c := <-clients
					defer func() { clients <- c }()
					for pb.Next() {
						var err error
						if content == "prebuilt" {
							err = smtptx.Send(c, from, to, bytes.NewReader(raw.Bytes()), timeout)
						} else if m, buildErr := build(); buildErr != nil {
							err = buildErr
						} else {
							err = smtptx.SendMsg(c, m, timeout)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// memoryConn is a net.Conn to an SMTP server in memory: Write runs the
// server over what the client wrote and queues its replies, which Read
// hands back. Nothing blocks and there is no system call, so a benchmark
// on it measures the client's own work, the same from run to run; writes
// counts the client's writes, each a system call on a real connection.
type memoryConn struct {
	ehlo   string       // the reply to EHLO
	in     []byte       // what the client wrote and the server has not read
	out    bytes.Buffer // the replies not yet read
	data   bool         // reading a DATA message
	chunk  int          // bytes of a BDAT chunk still to come
	writes int
}

func newMemoryConn(ext string) *memoryConn {
	c := &memoryConn{ehlo: "250-memory\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"}
	if strings.Contains(ext, "pipelining") {
		c.ehlo += "250-PIPELINING\r\n"
	}
	if strings.Contains(ext, "chunking") {
		c.ehlo += "250-CHUNKING\r\n"
	}
	c.ehlo += "250 ENHANCEDSTATUSCODES\r\n"
	c.out.WriteString("220 memory ESMTP\r\n")
	return c
}

func (c *memoryConn) Read(p []byte) (int, error) {
	if c.out.Len() == 0 {
		return 0, io.EOF // the client waits for a reply that will not come
	}
	return c.out.Read(p)
}

func (c *memoryConn) Write(p []byte) (int, error) {
	c.writes++
	in := p // read p itself unless something came before it
	if len(c.in) > 0 {
		c.in = append(c.in, p...)
		in = c.in
	}
	for len(in) > 0 {
		switch {
		case c.chunk > 0:
			k := min(c.chunk, len(in))
			in, c.chunk = in[k:], c.chunk-k
			if c.chunk == 0 {
				c.out.WriteString("250 2.0.0 queued\r\n")
			}
			continue
		case c.data:
			// The message ends with the line holding a lone dot, the end
			// of the client's write: only the end is looked at.
			if !bytes.HasSuffix(in, []byte("\r\n.\r\n")) && !bytes.Equal(in, []byte(".\r\n")) {
				c.in = append(c.in[:0], in...)
				return len(p), nil
			}
			in, c.data = nil, false
			c.out.WriteString("250 2.0.0 queued\r\n")
			continue
		}
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(in[:i])
		in = in[i+1:]
		verb, arg, _ := bytes.Cut(line, []byte(" "))
		switch string(verb) {
		case "EHLO":
			c.out.WriteString(c.ehlo)
		case "DATA":
			c.data = true
			c.out.WriteString("354 go ahead\r\n")
		case "BDAT":
			size, err := strconv.Atoi(string(bytes.TrimSuffix(arg, []byte(" LAST"))))
			if err != nil || size == 0 {
				return 0, fmt.Errorf("memory conn: %q", line)
			}
			c.chunk = size
		case "QUIT":
			c.out.WriteString("221 2.0.0 bye\r\n")
		default: // MAIL, RCPT, RSET, NOOP
			c.out.WriteString("250 2.0.0 ok\r\n")
		}
	}
	c.in = append(c.in[:0], in...)
	return len(p), nil
}

func (c *memoryConn) Close() error                     { return nil }
func (c *memoryConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memoryConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memoryConn) SetDeadline(time.Time) error      { return nil }
func (c *memoryConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memoryConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkTransaction runs Send over a memoryConn: the client's own work
// for a message (writing the commands and the message, reading the
// replies), without the network. writes/op is the system calls it would
// make on a real connection, one a round trip. Under callgrind
// (-test.bench 'Transaction/none' --toggle-collect='*smtptx.Send') its
// instruction counts are the same from run to run.
func BenchmarkTransaction(b *testing.B) {
	m, err := newMoviesMessage(b)()
	if err != nil {
		b.Fatal(err)
	}
	var raw bytes.Buffer
	if _, err := m.WriteTo(&raw); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []struct{ name, ext string }{
		{"none", "none"}, {"pipelining", "pipelining"}, {"chunking", "pipelining,chunking"},
	} {
		b.Run(kind.name, func(b *testing.B) {
			conn := newMemoryConn(kind.ext)
			c, err := gosmtp.NewClient(conn, "memory")
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Hello("client.test"); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(raw.Len()))
			b.ReportAllocs()
			writes := conn.writes
			for b.Loop() {
				if err := smtptx.Send(c, from, to, bytes.NewReader(raw.Bytes()), timeout); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(conn.writes-writes)/float64(b.N), "writes/op")
		})
	}
}

package smtptx

import (
	"bytes"
	"io"
)

// Built is a message built ahead of its transaction (Build): a sender that
// shares its connections builds it first and holds a connection only for
// the exchange. Send takes it as its content without copying it, and may be
// given it more than once (a retry on a new connection); Release gives its
// buffer back once it is sent.
type Built struct {
	buf *bytes.Buffer // the message, then ".\r\n"
	// size is the message's length in buf.
	size int
	// plain says the message needs no dot-stuffing: buf as it is is the
	// content of DATA.
	plain bool
}

// Build writes content (a *mail.Msg, for one) into a buffer of the pool.
func Build(content io.WriterTo) (*Built, error) {
	if content == nil {
		return nil, errNoContent
	}
	buf := buffers.Get().(*bytes.Buffer)
	if _, err := content.WriteTo(buf); err != nil {
		release(buf)
		return nil, err
	}
	b := &Built{buf: buf, size: buf.Len(), plain: !needsStuffing(buf.Bytes())}
	buf.WriteString(".\r\n")
	return b, nil
}

// Bytes returns the message as built.
func (b *Built) Bytes() []byte { return b.buf.Bytes()[:b.size] }

// WriteTo writes the message as built; it can be called again.
func (b *Built) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// Release returns the buffer to the pool; b is not used again.
func (b *Built) Release() {
	if b.buf != nil {
		release(b.buf)
		b.buf = nil
	}
}

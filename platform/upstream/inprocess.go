package upstream

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// inProcessTransport serves requests by the http.Handler registered for their host,
// without any network.
type inProcessTransport map[string]http.Handler

// RoundTrip runs the handler for req's host and returns its buffered response. A
// panicking handler yields a 500 answer, as net/http's server would. When req's
// context ends first, RoundTrip returns its error and leaves the handler to finish
// on its own.
func (t inProcessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, ok := t[req.URL.Hostname()]
	if !ok {
		return nil, fmt.Errorf("no in-process handler: %w", ErrHostNotAllowed)
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context()) // handlers such as http.ServeMux modify their request
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "in-process"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	done := make(chan *recorder, 1)
	go func() { done <- serve(h, in) }()
	var w *recorder
	select {
	case w = <-done:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{
		Status:        strconv.Itoa(w.code) + " " + http.StatusText(w.code),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}, nil
}

// serve runs h and records its answer; a panic becomes a 500 answer.
func serve(h http.Handler, req *http.Request) (w *recorder) {
	w = &recorder{header: make(http.Header)}
	defer func() {
		if r := recover(); r != nil {
			w = &recorder{header: make(http.Header), code: http.StatusInternalServerError}
		}
		if w.code == 0 {
			w.code = http.StatusOK
		}
	}()
	h.ServeHTTP(w, req)
	return w
}

// recorder is a minimal in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}

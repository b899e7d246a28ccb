package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"testing"

	"github.com/notifier/notifier/modules/posting/internal/adapters/directory"
	"github.com/notifier/notifier/platform/upstream"
)

// fixedAnswer is a Getter that answers body to every request, decoding it
// as upstream.Client does, and records the URLs asked for.
type fixedAnswer struct {
	body []byte
	urls []string
}

func (g *fixedAnswer) GetJSON(_ context.Context, rawURL string, v any) error {
	g.urls = append(g.urls, rawURL)
	if err := json.Unmarshal(g.body, v); err != nil {
		return fmt.Errorf("%w: %w", upstream.ErrInvalidResponse, err)
	}
	return nil
}

// FuzzDirectoryPage checks the decoder of the directory's answers: for any
// answer and receivers URL, a page it returns holds at most the page size
// asked for, every user has an id, and an answer with no items ends the
// walk; an answer it cannot use is upstream.ErrInvalidResponse (which
// fails the posting) rather than a panic or a page; and the URL it asks
// for is the receivers URL, every filter of it kept, with page_number and
// page_size set once, or nothing at all for receivers whose query does not
// parse. The corpus is the brief's receivers with pages and users as the
// directory serves them (testdata/fuzz/FuzzDirectoryPage).
func FuzzDirectoryPage(f *testing.F) {
	mailing := "http://auth/api/v1/users/?is_active=True&email_notifications=True&page_number=1&page_size=500"
	f.Add([]byte(`{"items":[{"id":"a","email":"anna@example.com"},{"id":"b"}],"page_number":1,"page_size":2,"total":5}`), mailing, 1, 2)
	f.Add([]byte(`{"items":[{"id":"a"},{"id":"b"},{"id":"c"}],"page_number":1,"page_size":3,"total":3}`), mailing, 1, 2)
	f.Add([]byte(`{"items":[{"email":"no-id@example.com"},{"id":""},{"id":"x"}]}`), mailing, 1, 500)
	f.Add([]byte(`{"items":[],"total":0}`), mailing, 1, 500)
	f.Add([]byte(`{"items":null}`), mailing, 7, 500)
	f.Add([]byte(`{"items":[{"id":"a"}],"page_size":9223372036854775807,"total":9223372036854775807}`), mailing, 2, 500)
	f.Add([]byte(`{"id":"6f1c2a57","email":"anna@example.com","is_active":false}`), "http://auth/api/v1/users/?id=6f1c2a57", 1, 500)
	f.Add([]byte(`{"id":""}`), "http://auth/api/v1/users/6f1c2a57/", 1, 500)
	f.Add([]byte(`{"items":{"id":"a"}}`), mailing, 1, 500)
	f.Add([]byte(`[{"id":"a"}]`), mailing, 1, 500)
	f.Add([]byte(`{"items":[{"id":"a"}]}`), "http://auth/api/v1/users/?id=a;b", 1, 500)
	f.Add([]byte(`{"items":[{"id":"a"}]}`), "http://auth/api/v1/users/?is_active=%zz", 1, 500)
	f.Add([]byte(`{"items":[{"id":"a"}]}`), "http://auth/%zz", 1, 500)
	f.Fuzz(func(t *testing.T, body []byte, receivers string, number, size int) {
		number = 1 + abs(number-1)%100000 // the walk asks pages from 1
		size = 1 + abs(size-1)%2000       // of directory.page_size users
		g := &fixedAnswer{body: body}
		d, err := directory.New(g)
		if err != nil {
			t.Fatal(err)
		}
		page, err := d.Page(context.Background(), receivers, number, size)

		asked := checkAskedURL(t, g.urls, receivers, number, size)
		switch {
		case !asked:
			if !errors.Is(err, upstream.ErrInvalidURL) {
				t.Fatalf("receivers %q not asked for, but the error is %v", receivers, err)
			}
			return
		case err != nil:
			if !errors.Is(err, upstream.ErrInvalidResponse) {
				t.Fatalf("answer %q refused with %v, not ErrInvalidResponse", body, err)
			}
			return
		}
		if len(page.Users) > size {
			t.Fatalf("answer %q gives %d users for a page of %d", body, len(page.Users), size)
		}
		for _, u := range page.Users {
			if u.ID == "" {
				t.Fatalf("answer %q gives a user without an id: %+v", body, u)
			}
		}
		var shape struct {
			Items *[]json.RawMessage `json:"items"`
		}
		if json.Unmarshal(body, &shape) == nil && shape.Items != nil && len(*shape.Items) == 0 && !page.Last {
			t.Fatalf("answer %q has no items but does not end the walk", body)
		}
		if len(page.Users) == 0 && !page.Last && (shape.Items == nil || len(*shape.Items) == 0) {
			t.Fatalf("answer %q gives nothing and does not end the walk", body)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// checkAskedURL checks what the directory was asked for and reports
// whether it was asked at all; receivers whose query does not parse must
// not be asked for, as the directory would be asked without the filters
// that could not be read, a broader audience than the posting names.
func checkAskedURL(t *testing.T, urls []string, receivers string, number, size int) bool {
	t.Helper()
	r, err := url.Parse(receivers)
	var filters url.Values
	if err == nil {
		filters, err = url.ParseQuery(r.RawQuery)
	}
	if err != nil {
		if len(urls) != 0 {
			t.Fatalf("receivers %q (%v) asked for as %q", receivers, err, urls)
		}
		return false
	}
	if len(urls) != 1 {
		t.Fatalf("receivers %q asked for %d times", receivers, len(urls))
	}
	got, err := url.Parse(urls[0])
	if err != nil {
		t.Fatalf("asked for %q, which does not parse: %v", urls[0], err)
	}
	q, err := url.ParseQuery(got.RawQuery)
	if err != nil {
		t.Fatalf("asked for %q, whose query does not parse: %v", urls[0], err)
	}
	if got.Scheme != r.Scheme || got.Host != r.Host || got.Path != r.Path || got.User.String() != r.User.String() {
		t.Fatalf("receivers %q asked for as %q", receivers, urls[0])
	}
	if !reflect.DeepEqual(q["page_number"], []string{strconv.Itoa(number)}) || !reflect.DeepEqual(q["page_size"], []string{strconv.Itoa(size)}) {
		t.Fatalf("page %d of %d asked for as %q", number, size, urls[0])
	}
	delete(q, "page_number")
	delete(q, "page_size")
	delete(filters, "page_number")
	delete(filters, "page_size")
	if len(q) == 0 && len(filters) == 0 {
		return true
	}
	if !reflect.DeepEqual(q, filters) {
		t.Fatalf("receivers %q asked for as %q: filters %v became %v", receivers, urls[0], filters, q)
	}
	return true
}

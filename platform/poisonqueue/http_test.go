package poisonqueue_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/notifier/notifier/platform/clock"
	"github.com/notifier/notifier/platform/messaging"
	"github.com/notifier/notifier/platform/poisonqueue"
)

// publisher records what is published; it fails while fail is set.
type publisher struct {
	mu        sync.Mutex
	fail      error
	published []published
}

type published struct {
	topic string
	msg   *message.Message
}

func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	for _, m := range msgs {
		p.published = append(p.published, published{topic, m})
	}
	return nil
}

func (p *publisher) Close() error { return nil }

// handlers are the handler names that run here.
type handlers map[string]bool

func (h handlers) Handles(name string) bool { return h[name] }

type rig struct {
	api       humatest.TestAPI
	store     *poisonqueue.Memory
	record    *poisonqueue.RecordPoisoned
	clock     *clock.Fake
	publisher *publisher
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c := clock.NewFake(t0.Add(time.Hour))
	store, err := poisonqueue.NewMemory(c, retention)
	require.NoError(t, err)
	pub := &publisher{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	record, err := poisonqueue.NewRecordPoisoned(store, c)
	require.NoError(t, err)
	list, err := poisonqueue.NewListPoisonedHandler(store)
	require.NoError(t, err)
	get, err := poisonqueue.NewGetPoisonedHandler(store)
	require.NoError(t, err)
	requeue, err := poisonqueue.NewRequeuePoisonedHandler(store, pub, handlers{"eventintake.ConsumeEvents": true, "preferences.FilterAudienceOnAudienceBatchResolved": true}, c, logger)
	require.NoError(t, err)
	discard, err := poisonqueue.NewDiscardPoisonedHandler(store, logger)
	require.NoError(t, err)
	port, err := poisonqueue.NewHTTP(list, get, requeue, discard)
	require.NoError(t, err)
	_, api := humatest.New(t)
	port.RegisterRoutes(api)
	return &rig{api: api, store: store, record: record, clock: c, publisher: pub}
}

// poison records a poisoned message as the poison handler would, and
// returns its entry id.
func (r *rig) poison(t *testing.T, msg *message.Message) string {
	t.Helper()
	require.NoError(t, r.record.Handle(msg))
	return poisonqueue.EntryID(msg.UUID, msg.Metadata.Get(middleware.PoisonedHandlerKey))
}

type item struct {
	ID               string    `json:"id"`
	MessageID        string    `json:"message_id"`
	Topic            string    `json:"topic"`
	Handler          string    `json:"handler"`
	Reason           string    `json:"reason"`
	PoisonedAt       time.Time `json:"poisoned_at"`
	PayloadPreview   string    `json:"payload_preview"`
	PayloadSize      int       `json:"payload_size"`
	PayloadTruncated bool      `json:"payload_truncated"`
}

type detail struct {
	item
	Metadata      map[string]string `json:"metadata"`
	PayloadText   *string           `json:"payload_text"`
	PayloadBase64 *string           `json:"payload_base64"`
}

type listBody struct {
	Items      []item `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v
}

func requireProblem(t *testing.T, resp interface {
	Result() *http.Response
}, status int, location string) {
	t.Helper()
	res := resp.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, status, res.StatusCode, string(body))
	require.Contains(t, res.Header.Get("Content-Type"), "problem+json")
	if location != "" {
		require.Contains(t, string(body), `"location":"`+location+`"`)
	}
}

func TestPoisonedMessagesAreListedNewestFirstWithTheirReasonAndAPreview(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	big := poisoned("big", "eventintake.ConsumeEvents", []byte(`{"details": "`+strings.Repeat("Ж", 300)+`"}`))
	big.Metadata.Set(messaging.PoisonedAtKey, t0.Format(time.RFC3339Nano))
	r.poison(t, big)
	binary := poisoned("bin", "preferences.FilterAudienceOnAudienceBatchResolved", []byte("\x00\xffoops\n"))
	binary.Metadata.Set(middleware.PoisonedTopicKey, "events.posting.AudienceBatchResolved.v1")
	binary.Metadata.Set(messaging.PoisonedAtKey, t0.Add(time.Second).Format(time.RFC3339Nano))
	r.poison(t, binary)
	for i := range 3 {
		msg := poisoned(fmt.Sprintf("m%d", i), "eventintake.ConsumeEvents", []byte(`{"event":"user_deleted"}`))
		msg.Metadata.Set(messaging.PoisonedAtKey, t0.Add(time.Duration(2+i)*time.Second).Format(time.RFC3339Nano))
		r.poison(t, msg)
	}

	resp := r.api.Get("/api/v1/poison")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	all := decode[listBody](t, resp.Body.Bytes())
	require.Len(t, all.Items, 5)
	require.Equal(t, []string{"m2", "m1", "m0", "bin", "big"}, []string{
		all.Items[0].MessageID, all.Items[1].MessageID, all.Items[2].MessageID, all.Items[3].MessageID, all.Items[4].MessageID,
	})
	first := all.Items[0]
	require.Equal(t, "notifier.events", first.Topic)
	require.Equal(t, "eventintake.ConsumeEvents", first.Handler)
	require.Equal(t, "unknown event auth/user_deleted", first.Reason)
	require.Equal(t, `{"event":"user_deleted"}`, first.PayloadPreview)
	require.True(t, first.PoisonedAt.Equal(t0.Add(4*time.Second)))
	require.False(t, first.PayloadTruncated)
	require.Equal(t, `\x00\xffoops\n`, all.Items[3].PayloadPreview, "escaped, one line")
	require.True(t, all.Items[4].PayloadTruncated)
	require.Equal(t, 615, all.Items[4].PayloadSize)
	require.Equal(t, `{"details": "`+strings.Repeat("Ж", 121), all.Items[4].PayloadPreview, "256 bytes at most, whole characters")
	require.Empty(t, all.NextCursor)

	var pages [][]item
	path := "/api/v1/poison?limit=2&handler=eventintake.ConsumeEvents"
	for range 5 {
		resp := r.api.Get(path)
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		page := decode[listBody](t, resp.Body.Bytes())
		pages = append(pages, page.Items)
		if page.NextCursor == "" {
			break
		}
		path = "/api/v1/poison?limit=2&handler=eventintake.ConsumeEvents&cursor=" + url.QueryEscape(page.NextCursor)
	}
	require.Len(t, pages, 2)
	require.Len(t, pages[0], 2)
	require.Len(t, pages[1], 2)
	require.Equal(t, "big", pages[1][1].MessageID)

	resp = r.api.Get("/api/v1/poison?topic=" + url.QueryEscape("events.posting.AudienceBatchResolved.v1"))
	require.Equal(t, http.StatusOK, resp.Code)
	byTopic := decode[listBody](t, resp.Body.Bytes())
	require.Len(t, byTopic.Items, 1)
	require.Equal(t, "bin", byTopic.Items[0].MessageID)
}

func TestAPoisonedMessageIsShownWholeWithItsMetadata(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	text := r.poison(t, poisoned("m1", "eventintake.ConsumeEvents", []byte("{\n  \"event\": \"user_deleted\"\n}")))
	binary := r.poison(t, poisoned("m2", "eventintake.ConsumeEvents", []byte{0xff, 0x00, 0x01}))

	resp := r.api.Get("/api/v1/poison/" + text)
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	got := decode[detail](t, resp.Body.Bytes())
	require.Equal(t, text, got.ID)
	require.Equal(t, "{\n  \"event\": \"user_deleted\"\n}", *got.PayloadText)
	require.Nil(t, got.PayloadBase64)
	require.Equal(t, "unknown event auth/user_deleted", got.Metadata["reason_poisoned"])
	require.Equal(t, "bulk", got.Metadata["lane"])

	resp = r.api.Get("/api/v1/poison/" + strings.ToUpper(binary))
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	raw := decode[map[string]any](t, resp.Body.Bytes())
	require.NotContains(t, raw, "payload_text")
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x01}), raw["payload_base64"])
}

func TestARequeuedMessageGoesBackToItsTopicForItsHandlerAndLeavesTheList(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	msg := poisoned("m1", "eventintake.ConsumeEvents", []byte(`{"event":"user_signed_up"}`))
	msg.Metadata.Set("message_id", "amqp-msg-1")
	msg.Metadata.Set(messaging.PublishedAtKey, "2026-02-01T00:00:00Z")
	msg.Metadata.Set("x-death", `[{"count":1}]`)
	msg.Metadata.Set("x-delivery-count", "3")
	msg.Metadata.Set(middleware.PoisonedSubscriberKey, "sub")
	id := r.poison(t, msg)

	r.publisher.fail = errors.New("broker unreachable")
	resp := r.api.Post("/api/v1/poison/" + id + "/requeue")
	require.Equal(t, http.StatusInternalServerError, resp.Code, resp.Body.String())
	require.Equal(t, http.StatusOK, r.api.Get("/api/v1/poison/"+id).Code, "kept when the publish fails")

	r.publisher.fail = nil
	resp = r.api.Post("/api/v1/poison/" + id + "/requeue")
	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())
	require.JSONEq(t, `{"id":"`+id+`","message_id":"m1","topic":"notifier.events","handler":"eventintake.ConsumeEvents"}`, resp.Body.String())

	require.Len(t, r.publisher.published, 1)
	out := r.publisher.published[0]
	require.Equal(t, "notifier.events", out.topic)
	require.Equal(t, "m1", out.msg.UUID, "the same id: a handler that had handled it drops it")
	require.Equal(t, `{"event":"user_signed_up"}`, string(out.msg.Payload))
	now := r.clock.Now().Format(time.RFC3339Nano)
	require.Equal(t, map[string]string{
		"lane":                    "bulk",
		"message_id":              "amqp-msg-1",
		messaging.RequeuedForKey:  "eventintake.ConsumeEvents",
		poisonqueue.RequeuedAtKey: now,
		messaging.PublishedAtKey:  now,
	}, map[string]string(out.msg.Metadata), "without the poison queue's keys and RabbitMQ's")

	require.Equal(t, http.StatusNotFound, r.api.Get("/api/v1/poison/"+id).Code)
	requireProblem(t, r.api.Post("/api/v1/poison/"+id+"/requeue"), http.StatusNotFound, "")
	require.Len(t, r.publisher.published, 1, "a repeat sends nothing")
}

func TestARequeueNobodyCouldTakeIsRefusedAndTheMessageKept(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	gone := r.poison(t, poisoned("m1", "posting.Renamed", []byte(`{}`)))
	noTopic := poisoned("m2", "eventintake.ConsumeEvents", []byte(`{}`))
	noTopic.Metadata.Set(middleware.PoisonedTopicKey, "")
	unknownTopic := r.poison(t, noTopic)

	for _, id := range []string{gone, unknownTopic} {
		resp := r.api.Post("/api/v1/poison/" + id + "/requeue")
		require.Equal(t, http.StatusConflict, resp.Code, resp.Body.String())
		require.Contains(t, resp.Body.String(), "can only be discarded")
		require.Equal(t, http.StatusOK, r.api.Get("/api/v1/poison/"+id).Code)
	}
	require.Contains(t, r.api.Post("/api/v1/poison/"+gone+"/requeue").Body.String(), "posting.Renamed")
	require.Empty(t, r.publisher.published)
}

func TestADiscardedMessageLeavesTheListOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	id := r.poison(t, poisoned("m1", "eventintake.ConsumeEvents", []byte(`{}`)))

	resp := r.api.Delete("/api/v1/poison/" + id)
	require.Equal(t, http.StatusNoContent, resp.Code, resp.Body.String())
	require.Empty(t, resp.Body.String())
	requireProblem(t, r.api.Delete("/api/v1/poison/"+id), http.StatusNotFound, "")
	require.Equal(t, http.StatusNotFound, r.api.Get("/api/v1/poison/"+id).Code)
	list := decode[listBody](t, r.api.Get("/api/v1/poison").Body.Bytes())
	require.Empty(t, list.Items)
	require.Empty(t, r.publisher.published)
}

func TestBadPoisonQueueRequestsAre4xxNamingTheParameter(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	unknown := poisonqueue.EntryID("never", "poisoned")
	for _, tc := range []struct {
		method, path string
		status       int
		location     string
	}{
		{http.MethodGet, "/api/v1/poison?limit=0", 422, "query.limit"},
		{http.MethodGet, "/api/v1/poison?limit=201", 422, "query.limit"},
		{http.MethodGet, "/api/v1/poison?cursor=nope", 422, "query.cursor"},
		{http.MethodGet, "/api/v1/poison?handler=" + strings.Repeat("h", 301), 422, "query.handler"},
		{http.MethodGet, "/api/v1/poison?topic=" + strings.Repeat("t", 301), 422, "query.topic"},
		{http.MethodGet, "/api/v1/poison/not-a-uuid", 422, "path.id"},
		{http.MethodPost, "/api/v1/poison/not-a-uuid/requeue", 422, "path.id"},
		{http.MethodDelete, "/api/v1/poison/12345", 422, "path.id"},
		{http.MethodGet, "/api/v1/poison/" + unknown, 404, ""},
		{http.MethodPost, "/api/v1/poison/" + unknown + "/requeue", 404, ""},
		{http.MethodDelete, "/api/v1/poison/" + unknown, 404, ""},
	} {
		resp := r.api.Do(tc.method, tc.path)
		requireProblem(t, resp, tc.status, tc.location)
	}
}

func TestTheUseCasesRefuseAMalformedIDThemselves(t *testing.T) {
	t.Parallel()
	store, err := poisonqueue.NewMemory(nil, time.Hour)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	get, err := poisonqueue.NewGetPoisonedHandler(store)
	require.NoError(t, err)
	requeue, err := poisonqueue.NewRequeuePoisonedHandler(store, &publisher{}, handlers{}, clock.System{}, logger)
	require.NoError(t, err)
	discard, err := poisonqueue.NewDiscardPoisonedHandler(store, logger)
	require.NoError(t, err)
	var inv *poisonqueue.InvalidInputError
	_, err = get.Handle(context.Background(), "x")
	require.ErrorAs(t, err, &inv)
	_, err = requeue.Handle(context.Background(), "x")
	require.ErrorAs(t, err, &inv)
	require.ErrorAs(t, discard.Handle(context.Background(), "x"), &inv)
	require.Equal(t, "id", inv.Field)

	_, err = poisonqueue.NewRequeuePoisonedHandler(store, nil, handlers{}, clock.System{}, logger)
	require.Error(t, err)
	_, err = poisonqueue.NewHTTP(nil, nil, nil, nil)
	require.Error(t, err)
}

func TestTheOpenAPIDocumentShowsThePoisonQueueWithExamples(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	doc := r.api.OpenAPI()
	for path, ops := range map[string][]string{
		"/api/v1/poison":              {"list-poisoned-messages"},
		"/api/v1/poison/{id}":         {"get-poisoned-message", "discard-poisoned-message"},
		"/api/v1/poison/{id}/requeue": {"requeue-poisoned-message"},
	} {
		item := doc.Paths[path]
		require.NotNil(t, item, path)
		raw, err := json.Marshal(item)
		require.NoError(t, err)
		for _, op := range ops {
			require.Contains(t, string(raw), `"operationId":"`+op+`"`)
		}
		require.Contains(t, string(raw), "amqp.poison_ttl", "the retention is stated")
	}
	schema := doc.Components.Schemas.Map()["PoisonedItem"]
	require.NotNil(t, schema)
	require.Equal(t, "unknown event auth/user_deleted", schema.Properties["reason"].Examples[0])
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// smsGateway is the SMS gateway of DESIGN §6: POST {"to", "text",
// "idempotency_key"} answers 200. It records when each code (the first
// run of six or more digits in the text) first arrived, and counts the
// requests and the repeated idempotency keys.
type smsGateway struct {
	now func() time.Time

	mu       sync.Mutex
	arrivals map[string]time.Time // code -> first arrival
	keys     map[string]bool      // idempotency keys seen
	requests int
	repeats  int
	bad      int
}

func newSMSGateway(now func() time.Time) *smsGateway {
	return &smsGateway{now: now, arrivals: map[string]time.Time{}, keys: map[string]bool{}}
}

var codePattern = regexp.MustCompile(`[0-9]{6,}`)

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := g.now()
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var req struct {
		To             string `json:"to"`
		Text           string `json:"text"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.To == "" || req.Text == "" {
		g.mu.Lock()
		g.bad++
		g.mu.Unlock()
		http.Error(w, "want {to, text, idempotency_key}", http.StatusBadRequest)
		return
	}
	code := codePattern.FindString(req.Text)
	g.mu.Lock()
	g.requests++
	if g.keys[req.IdempotencyKey] {
		g.repeats++
	}
	g.keys[req.IdempotencyKey] = true
	if _, seen := g.arrivals[code]; code != "" && !seen {
		g.arrivals[code] = at
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"sent"}`)
}

// arrival returns when code first arrived.
func (g *smsGateway) arrival(code string) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.arrivals[code]
	return at, ok
}

// gatewayCounts is a snapshot of the gateway's counters.
type gatewayCounts struct {
	Requests int `json:"requests"`
	Repeats  int `json:"repeated_idempotency_keys"`
	Bad      int `json:"bad_requests"`
}

func (g *smsGateway) counts() gatewayCounts {
	g.mu.Lock()
	defer g.mu.Unlock()
	return gatewayCounts{Requests: g.requests, Repeats: g.repeats, Bad: g.bad}
}

// Package incident is a fake of a force's command-and-control or incident
// system, as the gateway's outbox delivers to it: it checks each message's
// Standard Webhooks signature with the specification's own Go library (not
// the gateway's code), drops a repeat of an id it has accepted, and records
// what it accepted, in the order it came. It can be told to be down (answer
// 503) for a number of requests, or to answer one status to everything.
//
// Besides the endpoint it serves, for tests and the demo:
//
//	GET  /fake/incident/received        what it accepted, with repeats and refusals counted
//	POST /fake/incident/down?requests=N  answer 503 to the next N messages
//	POST /fake/incident/status?code=C    answer C to every message (0: accept again)
package incident

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Delivery is one message the fake accepted.
type Delivery struct {
	ID   string          `json:"id"` // webhook-id
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
	At   time.Time       `json:"at"`
	// Tries counts the requests that carried this id and a good signature,
	// the ones answered 503 included.
	Tries int `json:"tries"`
}

// Received is what GET /fake/incident/received answers.
type Received struct {
	Deliveries []Delivery `json:"deliveries"`
	Repeats    int        `json:"repeats"` // accepted ids sent again, dropped
	Refused    int        `json:"refused"` // bad or missing signatures
	Down       int        `json:"down"`    // messages answered 503 while down
}

// Server is the fake incident system.
type Server struct {
	wh *standardwebhooks.Webhook

	mu     sync.Mutex
	got    []Delivery
	index  map[string]int // id → its place in got
	tries  map[string]int // id → requests with a good signature
	rec    Received
	down   int
	status int
}

// New returns a fake that checks signatures with secret, in the Standard
// Webhooks form ("whsec_" and base64).
func New(secret string) (*Server, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	return &Server{wh: wh, index: map[string]int{}, tries: map[string]int{}}, nil
}

// ServeHTTP serves the endpoint at every path but /fake/incident/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/fake/incident/received":
		s.received(w, r)
		return
	case "/fake/incident/down":
		s.set(w, r, "requests", func(n int) { s.down = n })
		return
	case "/fake/incident/status":
		s.set(w, r, "code", func(n int) { s.status = n })
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a message", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.wh.Verify(body, r.Header); err != nil {
		s.rec.Refused++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	s.tries[id]++
	if i, ok := s.index[id]; ok {
		s.got[i].Tries = s.tries[id]
	}
	switch {
	case s.status != 0:
		w.WriteHeader(s.status)
		return
	case s.down > 0:
		s.down--
		s.rec.Down++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if _, ok := s.index[id]; ok {
		s.rec.Repeats++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var m struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &m)
	s.index[id] = len(s.got)
	s.got = append(s.got, Delivery{ID: id, Type: m.Type, Body: body, At: time.Now().UTC(), Tries: s.tries[id]})
	w.WriteHeader(http.StatusNoContent)
}

// Received returns what the fake accepted, in order.
func (s *Server) Received() Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.rec
	out.Deliveries = append([]Delivery{}, s.got...)
	return out
}

// SetDown makes the fake answer 503 to the next n messages.
func (s *Server) SetDown(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = n
}

// SetStatus makes the fake answer code to every message; 0 accepts again.
func (s *Server) SetStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

func (s *Server) received(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET it", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.Received())
}

func (s *Server) set(w http.ResponseWriter, r *http.Request, param string, fn func(int)) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST it", http.StatusMethodNotAllowed)
		return
	}
	n, err := strconv.Atoi(r.URL.Query().Get(param))
	if err != nil || n < 0 || n > 999 {
		http.Error(w, param+" must be a whole number from 0 to 999", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	fn(n)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

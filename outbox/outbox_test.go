package outbox_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/safeconnection/gateway/outbox"
)

// receiver is an incident system that checks every request with the
// Standard Webhooks library (an implementation independent of the
// signer) and answers with the statuses it is given, then 204.
type receiver struct {
	t      *testing.T
	wh     *standardwebhooks.Webhook
	mu     sync.Mutex
	status []int
	ids    []string
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := rc.wh.Verify(body, r.Header); err != nil {
		rc.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
	if len(rc.status) > 0 {
		code := rc.status[0]
		rc.status = rc.status[1:]
		w.WriteHeader(code)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func newSecret(t *testing.T) (string, []byte) {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	secret := outbox.SecretPrefix + base64.StdEncoding.EncodeToString(key)
	parsed, err := outbox.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return secret, parsed
}

func newReceiver(t *testing.T, secret string, status ...int) (*receiver, *httptest.Server) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, wh: wh, status: status}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func TestSendIsSignedAsTheSpecificationSays(t *testing.T) {
	secret, key := newSecret(t)
	rc, srv := newReceiver(t, secret)
	s := outbox.NewSender(srv.URL, key)
	m := outbox.Message{ID: "msg_abc", Type: "verification.closed", Body: []byte(`{"reference":"K7QX"}`)}
	res, err := s.Send(context.Background(), m)
	if res != outbox.Delivered || err != nil {
		t.Fatalf("Send = %v, %v; want delivered", res, err)
	}
	if rc.bad != 0 || len(rc.ids) != 1 || rc.ids[0] != "msg_abc" {
		t.Fatalf("receiver saw ids %v, %d bad signatures", rc.ids, rc.bad)
	}
}

func TestWrongSignatureIsDetected(t *testing.T) {
	secret, _ := newSecret(t)
	_, other := newSecret(t)
	rc, srv := newReceiver(t, secret)
	s := outbox.NewSender(srv.URL, other) // signs with a key the receiver does not hold
	res, err := s.Send(context.Background(), outbox.Message{ID: "msg_x", Body: []byte(`{}`)})
	if res != outbox.Retry || err == nil {
		t.Fatalf("Send with the wrong key = %v, %v; want a retry with an error", res, err)
	}
	if rc.bad == 0 || len(rc.ids) != 0 {
		t.Fatalf("the receiver accepted a wrong signature: ids %v, bad %d", rc.ids, rc.bad)
	}
	// A body changed after signing fails the check too.
	_, key := newSecret(t)
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h := http.Header{}
	h.Set("webhook-id", "msg_y")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", outbox.Sign(key, "msg_y", now, []byte(`{"a":1}`)))
	if err := wh.Verify([]byte(`{"a":1}`), h); err != nil {
		t.Fatalf("the library rejects our signature: %v", err)
	}
	if err := wh.Verify([]byte(`{"a":2}`), h); err == nil {
		t.Fatal("the library accepted a changed body")
	}
}

func TestReceiverDownThenBack(t *testing.T) {
	secret, key := newSecret(t)
	// Down for longer than one Send's own quick retries (3 tries), then back.
	rc, srv := newReceiver(t, secret, 503, 503, 503, 503)
	s := outbox.NewSender(srv.URL, key)
	s.Client.RetryWaitMin, s.Client.RetryWaitMax = time.Millisecond, time.Millisecond
	m := outbox.Message{ID: "msg_same", Body: []byte(`{}`)}
	res, err := s.Send(context.Background(), m)
	if res != outbox.Retry || err == nil {
		t.Fatalf("first Send while down = %v, %v; want retry", res, err)
	}
	res, err = s.Send(context.Background(), m)
	if res != outbox.Delivered || err != nil {
		t.Fatalf("Send once back = %v, %v; want delivered", res, err)
	}
	if len(rc.ids) != 5 {
		t.Fatalf("receiver saw %d tries, want 5", len(rc.ids))
	}
	for _, id := range rc.ids {
		if id != "msg_same" {
			t.Fatalf("a retry carried id %q, want msg_same on every try", id)
		}
	}
}

func TestGoneIsDeadAtOnce(t *testing.T) {
	secret, key := newSecret(t)
	rc, srv := newReceiver(t, secret, 410)
	res, _ := outbox.NewSender(srv.URL, key).Send(context.Background(), outbox.Message{ID: "msg_g", Body: []byte(`{}`)})
	if res != outbox.Gone || len(rc.ids) != 1 {
		t.Fatalf("Send to a 410 = %v after %d tries; want gone after 1", res, len(rc.ids))
	}
}

func TestParseSecret(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{outbox.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 32)), true},
		{base64.StdEncoding.EncodeToString(make([]byte, 24)), true},
		{outbox.SecretPrefix + "not base64!", false},
		{outbox.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 8)), false},
	} {
		if _, err := outbox.ParseSecret(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseSecret(%q) error %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func TestScheduleBacksOffThenDies(t *testing.T) {
	s := outbox.Schedule{Min: time.Second, Max: time.Minute, For: time.Hour}
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last time.Duration
	for n := 1; n <= 5; n++ {
		next, ok := s.Next(since, since, n)
		if !ok {
			t.Fatalf("attempt %d dead within the window", n)
		}
		if d := next.Sub(since); d <= last {
			t.Fatalf("attempt %d waits %v, not longer than %v", n, d, last)
		} else {
			last = d
		}
	}
	if _, ok := s.Next(since, since.Add(time.Hour), 1); ok {
		t.Fatal("a try after the window is not dead")
	}
}

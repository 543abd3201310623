package fault

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDecideOrder(t *testing.T) {
	var k Knobs
	k.SetLatency(7 * time.Millisecond)
	k.MalformedNext(1)
	k.FailNext(2, 503, 1500*time.Millisecond)
	Queue(&k, 1, Failure{Status: 429, Code: 130429})
	k.HangNext(1)

	want := []struct {
		act    Action
		status int
		code   int
	}{{Hang, 0, 0}, {Fail, 503, 0}, {Fail, 503, 0}, {Fail, 429, 130429}, {Malformed, 0, 0}, {Serve, 0, 0}, {Serve, 0, 0}}
	for i, w := range want {
		act, fl, lat := Decide(&k)
		if act != w.act || fl.Status != w.status || fl.Code != w.code {
			t.Fatalf("decision %d: %v %+v, want %v status %d code %d", i, act, fl, w.act, w.status, w.code)
		}
		if lat != 7*time.Millisecond {
			t.Fatalf("decision %d: latency %v", i, lat)
		}
	}
}

func TestStandingKnobs(t *testing.T) {
	type decision struct {
		act    Action
		status int
	}
	var k Knobs
	k.FailNext(1, 429, 0)
	k.FailAll(503, 2*time.Second)
	got := func(n int) []decision {
		var out []decision
		for range n {
			act, fl, _ := Decide(&k)
			out = append(out, decision{act, fl.Status})
		}
		return out
	}
	if d := got(3); d[0] != (decision{Fail, 429}) || d[1] != (decision{Fail, 503}) || d[2] != (decision{Fail, 503}) {
		t.Errorf("FailNext(429) then FailAll(503): %v, want the queued 429, then 503 for every request", d)
	}
	if _, fl, _ := Decide(&k); fl.RetryAfter != 2*time.Second {
		t.Errorf("FailAll's failure has Retry-After %v, want 2s", fl.RetryAfter)
	}
	k.HangAll(true)
	if d := got(2); d[0].act != Hang || d[1].act != Hang {
		t.Errorf("HangAll(true): %v, want every request to hang (before FailAll's failures)", d)
	}
	k.HangAll(false)
	k.FailAll(0, 0)
	if d := got(1); d[0].act != Serve {
		t.Errorf("after HangAll(false) and FailAll(0): %v, want served", d)
	}
	k.SetLatency(time.Second)
	k.FailAll(500, 0)
	k.HangNext(3)
	k.MalformedNext(2)
	k.Reset()
	if act, _, lat := Decide(&k); act != Serve || lat != 0 {
		t.Errorf("after Reset: %v with latency %v, want served at once", act, lat)
	}
}

func TestSetRetryAfterRoundsUp(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, ""}, {-time.Second, ""}, {time.Millisecond, "1"}, {time.Second, "1"}, {1500 * time.Millisecond, "2"}, {30 * time.Second, "30"}} {
		h := http.Header{}
		SetRetryAfter(h, c.d)
		if got := h.Get("Retry-After"); got != c.want {
			t.Errorf("%v: Retry-After %q, want %q", c.d, got, c.want)
		}
	}
}

func TestApply(t *testing.T) {
	var k Knobs
	l := NewLife()
	defer l.Close()
	k.FailNext(1, 429, 2*time.Second)
	k.MalformedNext(1)

	var failed []Failure
	fail := func(w http.ResponseWriter) func(Failure) {
		return func(fl Failure) {
			failed = append(failed, fl)
			w.WriteHeader(fl.Status)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/x", nil)

	w := httptest.NewRecorder()
	if serve, _ := Apply(&k, l, w, r, fail(w)); serve || len(failed) != 1 || w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("failure: serve %v, failed %+v, code %d, headers %v", serve, failed, w.Code, w.Header())
	}
	w = httptest.NewRecorder()
	if serve, malformed := Apply(&k, l, w, r, fail(w)); !serve || !malformed {
		t.Fatalf("malformed: serve %v malformed %v", serve, malformed)
	}
	w = httptest.NewRecorder()
	if serve, malformed := Apply(&k, l, w, r, fail(w)); !serve || malformed || len(failed) != 1 {
		t.Fatalf("plain: serve %v malformed %v failed %+v", serve, malformed, failed)
	}
}

func TestApplyLatencyEndsWithTheRequest(t *testing.T) {
	var k Knobs
	l := NewLife()
	defer l.Close()
	k.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx)
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	if serve, _ := Apply(&k, l, httptest.NewRecorder(), r, func(Failure) { t.Error("failed") }); serve {
		t.Fatal("served a request whose client gave up")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("waited %v", d)
	}
}

func TestHangReleasedByClose(t *testing.T) {
	var k Knobs
	l := NewLife()
	k.HangNext(1)
	out := make(chan bool)
	go func() {
		serve, _ := Apply(&k, l, httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), func(Failure) {})
		out <- serve
	}()
	select {
	case <-out:
		t.Fatal("a hanging request was answered")
	case <-time.After(20 * time.Millisecond):
	}
	l.Close()
	l.Close() // twice is fine
	select {
	case serve := <-out:
		if serve {
			t.Fatal("a hanging request was served")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging request")
	}
	if l.Context().Err() == nil {
		t.Fatal("the context outlived Close")
	}
}

func TestAfterAndClose(t *testing.T) {
	l := NewLife()
	var ran, late atomic.Bool
	first := make(chan struct{})
	l.After(0, func(ctx context.Context) { ran.Store(ctx.Err() == nil); close(first) })
	l.After(time.Hour, func(context.Context) { late.Store(true) })
	<-first
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a goroutine it should have stopped")
	}
	if !ran.Load() || late.Load() {
		t.Fatalf("ran %v, late %v", ran.Load(), late.Load())
	}
	if l.Wait(context.Background(), time.Hour) {
		t.Fatal("Wait outlived Close")
	}
	if !l.Wait(context.Background(), 0) {
		t.Fatal("Wait(0) did not pass at once")
	}
}

func TestRecordAndWebhooks(t *testing.T) {
	var rec Record[Request]
	r := httptest.NewRequest(http.MethodPost, "/v2/x?a=1", strings.NewReader("body"))
	r.Header.Set("Authorization", "Bearer t")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if b := ReadAndRecord(&rec, r, func() time.Time { return at }); string(b) != "body" {
		t.Fatalf("body %q", b)
	}
	got := rec.Requests()
	if len(got) != 1 || got[0].Method != "POST" || got[0].Path != "/v2/x" || got[0].RawQuery != "a=1" ||
		string(got[0].Body) != "body" || got[0].Header.Get("Authorization") != "Bearer t" || !got[0].At.Equal(at) {
		t.Fatalf("recorded %+v", got)
	}
	r.Header.Set("Authorization", "changed")
	got[0].Method = "changed"
	if again := rec.Requests(); again[0].Method != "POST" || again[0].Header.Get("Authorization") != "Bearer t" {
		t.Fatalf("the record is not a copy: %+v", again)
	}

	var wh Webhooks[string]
	if Off(&wh) {
		t.Fatal("webhooks off by default")
	}
	wh.NoWebhooks(true)
	if !Off(&wh) {
		t.Fatal("NoWebhooks(true) did not stop them")
	}
	wh.NoWebhooks(false)
	Delivered(&wh, "a")
	Delivered(&wh, "b")
	if d := wh.Deliveries(); len(d) != 2 || d[0] != "a" || d[1] != "b" {
		t.Fatalf("deliveries %v", d)
	}
}

func TestReadBodyLimit(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", MaxBody+10)))
	if n := len(ReadBody(r)); n != MaxBody {
		t.Fatalf("read %d bytes", n)
	}
}

// TestPost: a webhook is posted with the provider's headers, and the
// gateway's status and answer come back.
func TestPost(t *testing.T) {
	var got http.Header
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "taken")
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("x-zm-signature", "v0=abc")
	status, answer, err := Post(context.Background(), nil, srv.URL, h, []byte(`{"event":"x"}`))
	if err != nil || status != http.StatusAccepted || string(answer) != "taken" {
		t.Fatalf("Post = %d %q %v, want 202 taken", status, answer, err)
	}
	if got.Get("X-Zm-Signature") != "v0=abc" || string(gotBody) != `{"event":"x"}` {
		t.Errorf("the gateway got %v %s", got, gotBody)
	}
	srv.Close()
	if status, _, err := Post(context.Background(), srv.Client(), srv.URL, h, nil); err == nil || status != 0 {
		t.Errorf("Post to a closed server = %d, %v; want 0 and an error", status, err)
	}
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusTooManyRequests, "application/json;charset=UTF-8", map[string]int{"code": 429})
	if w.Code != 429 || w.Header().Get("Content-Type") != "application/json;charset=UTF-8" || w.Body.String() != `{"code":429}`+"\n" {
		t.Errorf("WriteJSON: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

package console

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/rooms"
)

// benchEnv is an API with the console mounted over a real SQLite store.
func benchEnv(b *testing.B) (*httpapitest.Env, *Console) {
	b.Helper()
	rs, err := rooms.LoadFiles("", "")
	if err != nil {
		b.Fatal(err)
	}
	var c *Console
	e := httpapitest.New(b, func(s *httpapi.Server) {
		c = New(nil, rs, s, []byte("console-key-for-benchmarks-0123456789"))
		c.Refresh = time.Hour // only wake-ups render
		s.Console = c
	})
	c.Store, c.Logger = e.Store, e.Server.Logger
	return e, c
}

// liveVerification stores a verification dialling with one open attempt
// in room AW.
func liveVerification(b *testing.B, e *httpapitest.Env, i int) gateway.Attempt {
	b.Helper()
	ctx := context.Background()
	v, _, err := e.Store.CreateVerification(ctx, gateway.Verification{
		ID: gateway.NewID("v_"), Reference: fmt.Sprintf("BNCH-%04d", i), State: gateway.StateDialling, RoomID: "AW",
		Officer: gateway.Officer{Collar: fmt.Sprintf("PC %d", 1000+i)}, RequestedBy: "t_officer",
		Deadline: time.Now().Add(time.Hour), Origin: gateway.OriginOfficer,
	}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
	if err != nil {
		b.Fatal(err)
	}
	a := gateway.Attempt{ID: gateway.NewID("a_"), VerificationID: v.ID, Seq: 1, Channel: "facetime", RoomID: "AW",
		DeviceID: "d_bench", StartedAt: time.Now(), Tries: 1}
	if _, err := e.Store.PutAttempt(ctx, a, gateway.Event{VerificationID: v.ID, Type: gateway.EventAttempt, AttemptID: a.ID, Message: "attempt started"}); err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkBoardRender reads and renders the board of a room with 20
// devices and 50 live verifications, as the hub does on every change (both
// roles' fragments).
func BenchmarkBoardRender(b *testing.B) {
	e, c := benchEnv(b)
	for range 20 {
		e.Device(b, "AW")
	}
	for i := range 50 {
		liveVerification(b, e, i)
	}
	room, _ := c.Rooms.Room("AW")
	f, err := c.frame(context.Background(), room)
	if err != nil || strings.Count(f.supervisor, `class="card `) != 50 || strings.Count(f.supervisor, `<tr id="d-`) != 20 {
		b.Fatalf("board: %v; want 50 cards and 20 devices", err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.frame(context.Background(), room); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoardLatency measures, with 50 consoles open on a room's board,
// the time from a verification's change in the store (an attempt's tries
// counted again) to each console's event stream receiving the board that
// shows it: p50 and p99 over every console and change.
func BenchmarkBoardLatency(b *testing.B) {
	const consoles = 50
	e, _ := benchEnv(b)
	a := liveVerification(b, e, 0)
	secret, hash := gateway.NewSecret()
	if err := e.Store.CreateToken(context.Background(), gateway.Token{ID: gateway.NewID("t_"), Role: gateway.RoleSupervisor, Name: "PS 42", Hash: hash,
		Supervisor: &gateway.SupervisorIdentity{Rank: "PS", Number: "42"}}); err != nil {
		b.Fatal(err)
	}
	type seen struct {
		tries string
		at    time.Time
	}
	frames := make([]chan seen, consoles)
	marker := regexp.MustCompile(`data-tries="(\d+)"`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range consoles {
		client := signedIn(b, e.URL, secret)
		req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/console/rooms/AW/events", nil)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("console %d: %v %v", i, err, resp)
		}
		frames[i] = make(chan seen, 64)
		go func(ch chan seen) {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if m := marker.FindStringSubmatch(sc.Text()); m != nil {
					ch <- seen{m[1], time.Now()}
				}
			}
		}(frames[i])
		if first := <-frames[i]; first.tries != "1" {
			b.Fatalf("console %d: first board shows tries %s, want 1", i, first.tries)
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		a.Tries = n + 2
		want := fmt.Sprint(a.Tries)
		start := time.Now()
		if _, err := e.Store.PutAttempt(context.Background(), a, gateway.Event{VerificationID: a.VerificationID, Type: gateway.EventAttempt, AttemptID: a.ID, Message: "retried"}); err != nil {
			b.Fatal(err)
		}
		for _, ch := range frames {
			for f := range ch {
				if f.tries == want {
					lat = append(lat, f.at.Sub(start))
					break
				}
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
	}
}

// signedIn returns a client signed in to the console with the secret.
func signedIn(b *testing.B, base, secret string) *http.Client {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Jar: jar, Transport: tr}
	resp, err := client.Get(base + "/console/sign-in")
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	token := ""
	re := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			token = m[1]
		}
	}
	resp.Body.Close()
	resp, err = client.PostForm(base+"/console/sign-in", url.Values{"csrf": {token}, "credential": {secret}})
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("sign in: %v %v", err, resp)
	}
	resp.Body.Close()
	return client
}

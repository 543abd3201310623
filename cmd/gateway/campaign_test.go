package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/store/sqlite"
)

// The fault campaign: the real gateway binary, run with -demo, killed under
// load, its fake providers and store made to fail, its webhooks replayed
// and forged, its connections held open, each part printing one summary
// line on standard error (so that CI shows it without -v) and failing on
// anything lost.

// The demo's webhook secrets (demo.go): the campaign signs with them itself.
const (
	campaignTwilioToken = "demotwilioauthtoken"
	campaignZoomSecret  = "demo-webhook-secret"
)

// campaignSettings are the demo's settings for the campaign: short
// timings, so that every verification ends within the campaign's time.
func campaignSettings(dir string) []string {
	return []string{"GATEWAY_DATA_DIR=" + dir, "GATEWAY_OWNER_TTL=2s", "GATEWAY_SWEEP_INTERVAL=500ms",
		"GATEWAY_BUDGET=25s", "GATEWAY_RING_TIMEOUT=4s", "GATEWAY_BREAKER_COOLDOWN=1s", "GATEWAY_LOG_LEVEL=warn"}
}

// campaignSay writes one summary line of the campaign to standard error
// (which go test shows for a passing package only with -v), to the
// terminal when there is one, and, when GATEWAY_CAMPAIGN_SUMMARY names a
// file, appends it there: CI prints that file after the tests.
func campaignSay(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprint(os.Stderr, line)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		io.WriteString(tty, line)
		tty.Close()
	}
	if path := os.Getenv("GATEWAY_CAMPAIGN_SUMMARY"); path != "" {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			io.WriteString(f, line)
			f.Close()
		}
	}
}

// campaign is the gateway under the campaign and what it has seen.
type campaign struct {
	t         *testing.T
	p         *multiProcess
	dir       string
	client    *http.Client
	tokens    map[string]string // role -> secret, from demo-tokens.json
	server5xx atomic.Int64      // API answers of 500 or more, where none may come
}

func TestFaultCampaign(t *testing.T) {
	start := time.Now()
	bin, err := buildGateway(t)
	if err != nil {
		campaignSay("campaign: skipped: the gateway binary cannot be built: %v\n", err)
		t.Skipf("the gateway binary cannot be built: %v", err)
	}
	c := &campaign{t: t, dir: t.TempDir(), client: multiClient(t)}
	c.p = multiSpawnArgs(t, bin, "campaign-1", []string{"-demo"}, campaignSettings(c.dir))
	c.tokens = demoTokens(t, c.dir)

	c.kill9(bin)
	c.providerFaults()
	c.storeFaults()
	c.webhooks()
	c.connections()
	if d := time.Since(start); d > 2*time.Minute && !testing.Short() {
		t.Errorf("the campaign took %s, over its 2 minutes", d.Round(time.Second))
	}
}

// demoTokens reads the demo's credentials by role.
func demoTokens(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	path := filepath.Join(dir, "demo-tokens.json")
	var b []byte
	// The demo writes them once it serves, a moment after it is ready.
	multiEventually(tb, "the demo's tokens", 30*time.Second, func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && json.Valid(b)
	})
	var tokens map[string]string
	if err := json.Unmarshal(b, &tokens); err != nil {
		tb.Fatal(err)
	}
	for _, role := range []string{"officer", "supervisor", "ops"} {
		if tokens[role] == "" {
			tb.Fatalf("demo-tokens.json has no %s credential", role)
		}
	}
	return tokens
}

// do sends a request to the gateway and returns the answer; a transport
// error is a status of 0. Answers of 500 or more are counted.
func (c *campaign) do(method, path, secret string, body []byte, header http.Header) (int, http.Header, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.p.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		c.server5xx.Add(1)
	}
	return resp.StatusCode, resp.Header, b
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// request asks for a verification; it returns its ID, or "" with the
// status when it was not acknowledged.
func (c *campaign) request(key string, contacts ...contact) (string, int) {
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	status, _, b := c.do("POST", "/v1/verifications", c.tokens["officer"], mustJSON(c.t, verificationRequest(trafalgar, contacts...)), h)
	if status != http.StatusCreated && status != http.StatusOK {
		return "", status
	}
	var v httpapi.VerificationView
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		c.t.Fatalf("acknowledged verification %.300s: %v", b, err)
	}
	return v.ID, status
}

// settle drives the verifications to a final state as a supervisor would:
// each connected one is given an outcome. It returns the last view of
// each one found (404s are missing from it) once all are final or the
// time is up.
func (c *campaign) settle(ids []string, limit time.Duration) map[string]httpapi.VerificationView {
	seen := map[string]httpapi.VerificationView{}
	deadline := time.Now().Add(limit)
	for {
		open := 0
		for _, id := range ids {
			if v, ok := seen[id]; ok && v.State.Terminal() {
				continue
			}
			status, _, b := c.do("GET", "/v1/verifications/"+id, c.tokens["supervisor"], nil, nil)
			if status != http.StatusOK {
				open++
				continue
			}
			var v httpapi.VerificationView
			if err := json.Unmarshal(b, &v); err != nil {
				c.t.Fatalf("verification %s: %v: %.300s", id, err, b)
			}
			if v.State == gateway.StateConnected {
				c.do("POST", "/v1/verifications/"+id+"/outcome", c.tokens["supervisor"],
					mustJSON(c.t, map[string]string{"outcome": "verified", "supervisor": "PS 42", "note": "campaign"}), nil)
			}
			seen[id] = v
			if !v.State.Terminal() {
				open++
			}
		}
		if open == 0 || time.Now().After(deadline) {
			return seen
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill9 asks for 50 verifications at once, kills the gateway with SIGKILL
// while they are routed, starts it again on the same store, and checks
// that every acknowledged one is there and reaches a final state.
func (c *campaign) kill9(bin string) {
	t := c.t
	n := 50
	if testing.Short() {
		n = 10 // under the race detector, say: the full load ran without it
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], _ = c.request(fmt.Sprintf("campaign-kill9-%d", i),
				contact{gateway.Channel("facetime"), officerNumber}, contact{gateway.Channel("whatsapp"), officerNumber})
		}()
	}
	wg.Wait()
	acked := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "" })
	if err := c.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.p.done
	c.client.CloseIdleConnections()
	c.p = multiSpawnArgs(t, bin, "campaign-2", []string{"-demo"}, campaignSettings(c.dir))

	seen := c.settle(acked, 60*time.Second)
	finished := 0
	for _, v := range seen {
		if v.State.Terminal() {
			finished++
		}
	}
	lost := len(acked) - finished
	campaignSay("campaign kill9: %d asked, %d acknowledged, %d found after SIGKILL and restart, %d finished, %d lost\n",
		n, len(acked), len(seen), finished, lost)
	if len(acked) != n || lost != 0 || len(seen) != len(acked) {
		t.Errorf("kill9: %d of %d acknowledged, %d found, %d finished", len(acked), n, len(seen), finished)
	}
}

// fault sets a fault on one of the demo's fakes (or its store).
func (c *campaign) fault(target string, f map[string]string) {
	c.t.Helper()
	status, _, b := c.do("POST", "/demo/faults/"+target, "", mustJSON(c.t, f), nil)
	if status != http.StatusOK {
		c.t.Fatalf("fault %s %v: status %d %.300s", target, f, status, b)
	}
}

// providerFaults makes four fakes misbehave at once, each in one way, and
// asks for a verification whose first channel is the faulty one: each must
// still finish, with no 5xx from the API.
func (c *campaign) providerFaults() {
	t := c.t
	c.server5xx.Store(0)
	cases := []struct {
		target string
		fault  map[string]string
		first  contact
	}{
		{"zoom", map[string]string{"mode": "refuse"}, contact{gateway.Channel("zoom"), officerEmail}},
		{"meet", map[string]string{"mode": "hang"}, contact{gateway.Channel("meet"), officerEmail}},
		{"teams", map[string]string{"mode": "5xx", "status": "503"}, contact{gateway.Channel("teams"), officerEmail}},
		{"twilio", map[string]string{"mode": "slow", "delay": "1s"}, contact{gateway.ChannelPSTN, officerNumber}},
	}
	var ids, tried []string
	for _, tc := range cases {
		f := map[string]any{"mode": tc.fault["mode"]}
		if s := tc.fault["status"]; s != "" {
			f["status"], _ = strconv.Atoi(s)
		}
		if d := tc.fault["delay"]; d != "" {
			f["delay"] = d
		}
		status, _, b := c.do("POST", "/demo/faults/"+tc.target, "", mustJSON(t, f), nil)
		if status != http.StatusOK {
			t.Fatalf("fault %s %v: status %d %.300s", tc.target, f, status, b)
		}
		contacts := []contact{tc.first}
		if tc.first.Channel != gateway.ChannelPSTN {
			contacts = append(contacts, contact{gateway.Channel("facetime"), officerNumber})
		}
		id, status := c.request("", contacts...)
		if id == "" {
			t.Fatalf("verification with %s %s first: status %d", tc.target, tc.fault["mode"], status)
		}
		ids = append(ids, id)
		tried = append(tried, tc.target+" "+tc.fault["mode"])
	}
	seen := c.settle(ids, 45*time.Second)
	connected := 0
	for _, id := range ids {
		if v := seen[id]; v.State == gateway.StateVerified {
			connected++
		}
	}
	for _, tc := range cases {
		c.fault(tc.target, map[string]string{"mode": "none"})
	}
	api5xx := c.server5xx.Load()
	campaignSay("campaign providers: %d faults at once (%v), %d verifications, %d connected and closed, %d lost, %d API answers of 5xx\n",
		len(cases), tried, len(ids), connected, len(ids)-connected, api5xx)
	if connected != len(ids) || api5xx != 0 {
		for _, id := range ids {
			t.Logf("verification %s: %s on %q (%s), attempts %v", id, seen[id].State, seen[id].Channel, seen[id].Reason, attempts(seen[id]))
		}
		t.Errorf("providers: %d of %d connected despite the faults, %d API 5xx", connected, len(ids), api5xx)
	}
}

// storeFaults makes the store fail its writes: a write is refused 503 with
// Retry-After, /readyz says 503, and both recover once the fault is lifted.
func (c *campaign) storeFaults() {
	t := c.t
	c.fault("store", map[string]string{"mode": "fail"})
	body := mustJSON(t, verificationRequest(trafalgar, contact{gateway.Channel("facetime"), officerNumber}))
	const tries = 5
	refused := 0
	for range tries {
		status, h, b := c.do("POST", "/v1/verifications", c.tokens["officer"], body, nil)
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if status == http.StatusServiceUnavailable && h.Get("Retry-After") != "" && json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			refused++
		} else {
			t.Errorf("write while the store fails: status %d, Retry-After %q, body %.200s; want 503 with Retry-After and a JSON error", status, h.Get("Retry-After"), b)
		}
	}
	readyDown, _, _ := c.do("GET", "/readyz", "", nil, nil)
	c.fault("store", map[string]string{"mode": "none"})
	lifted := time.Now()
	readyUp := 0
	for time.Since(lifted) < 10*time.Second {
		if readyUp, _, _ = c.do("GET", "/readyz", "", nil, nil); readyUp == http.StatusOK {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	recovered := time.Since(lifted)
	id, status := c.request("", contact{gateway.Channel("facetime"), officerNumber})
	if id != "" {
		c.settle([]string{id}, 30*time.Second)
	}
	campaignSay("campaign store: writes failing: %d of %d writes 503 with Retry-After, /readyz %d; lifted: /readyz %d after %s, a new verification %d\n",
		refused, tries, readyDown, readyUp, recovered.Round(time.Millisecond), status)
	if readyDown != http.StatusServiceUnavailable || readyUp != http.StatusOK || id == "" {
		t.Errorf("store: /readyz %d while failing (want 503), %d after (want 200); new verification %d (want 201)", readyDown, readyUp, status)
	}
}

// twilioSignature is Twilio's X-Twilio-Signature: the base64 HMAC-SHA1, keyed
// by the auth token, of the URL followed by each parameter's name and
// value, sorted by name.
func twilioSignature(token, rawURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := rawURL
	for _, k := range keys {
		for _, v := range form[k] {
			s += k + v
		}
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// zoomSignature is Zoom's x-zm-signature: "v0=" and the hex HMAC-SHA256,
// keyed by the webhook secret, of "v0:{timestamp}:{body}".
func zoomSignature(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// webhooks replays webhooks the gateway accepts and forges others, signed
// by the campaign itself, on a connected PSTN call and a connected Zoom
// meeting: forged ones are refused 4xx and write nothing; replays are
// answered 2xx and write no second event.
func (c *campaign) webhooks() {
	t := c.t
	pstnID, _ := c.request("", contact{gateway.ChannelPSTN, officerNumber})
	zoomID, _ := c.request("", contact{gateway.Channel("zoom"), officerEmail})
	if pstnID == "" || zoomID == "" {
		t.Fatalf("webhooks: verifications not acknowledged (pstn %q, zoom %q)", pstnID, zoomID)
	}
	for _, id := range []string{pstnID, zoomID} {
		multiEventually(t, "verification "+id+" to connect", 30*time.Second, func() bool {
			_, _, b := c.do("GET", "/v1/verifications/"+id, c.tokens["supervisor"], nil, nil)
			var v httpapi.VerificationView
			if err := json.Unmarshal(b, &v); err != nil || v.State.Terminal() {
				t.Fatalf("verification %s for the webhooks: %v %s (%s), attempts %v", id, err, v.State, v.Reason, attempts(v))
			}
			return v.State == gateway.StateConnected
		})
	}
	time.Sleep(500 * time.Millisecond) // the providers' own webhooks still on their way land
	st, err := sqlite.Open(context.Background(), filepath.Join(c.dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	last := func(id string) gateway.Attempt {
		v, err := st.Verification(context.Background(), id)
		if err != nil || len(v.Attempts) == 0 {
			t.Fatalf("verification %s in the store: %v", id, err)
		}
		return v.Attempts[len(v.Attempts)-1]
	}
	events := func(id string) int {
		evs, err := st.Events(context.Background(), id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	type hook struct {
		name   string
		id     string // the verification it concerns
		send   func() int
		forged bool
	}
	call := last(pstnID)
	twPath := "/webhooks/twilio/voice?" + url.Values{"attempt": {call.ID}}.Encode()
	twForm := url.Values{"AccountSid": {"AC00000000000000000000000000000001"}, "ApiVersion": {"2010-04-01"},
		"CallSid": {call.ProviderRef}, "CallStatus": {"in-progress"}, "Direction": {"outbound-api"},
		"From": {"+442079460000"}, "To": {officerNumber}}
	// Twilio sends a callback again with the same I-Twilio-Idempotency-Token;
	// each webhook here has its own, which its replay repeats.
	tokens := 0
	twilio := func(token, signedFor string) func() int {
		tokens++
		idem := fmt.Sprintf("%s-campaign-%d", call.ProviderRef, tokens)
		return func() int {
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
				"I-Twilio-Idempotency-Token": {idem},
				"X-Twilio-Signature":         {twilioSignature(token, signedFor, twForm)}}
			status, _, _ := c.do("POST", twPath, "", []byte(twForm.Encode()), h)
			return status
		}
	}
	u, _ := url.Parse(c.p.url)
	meeting, err := strconv.ParseInt(last(zoomID).ProviderRef, 10, 64)
	if err != nil {
		t.Fatalf("zoom attempt's reference %q is not a meeting number", last(zoomID).ProviderRef)
	}
	zoomBody := mustJSON(t, map[string]any{
		"event": "meeting.participant_joined", "event_ts": time.Now().UnixMilli(),
		"payload": map[string]any{"account_id": "demo-account", "object": map[string]any{
			"id": meeting, "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "KDcuGIm1QgePTO8WbOqwIQ", "topic": "Safe Connection", "type": 1,
			"participant": map[string]any{"user_id": "16778240", "user_name": "Officer", "email": officerEmail,
				"join_time": time.Now().UTC().Format(time.RFC3339), "participant_uuid": "55555AAAiAAAAAiAiAiiAii"}}},
	})
	zoomTS := strconv.FormatInt(time.Now().Unix(), 10)
	zoom := func(secret, ts string) func() int {
		return func() int {
			h := http.Header{"Content-Type": {"application/json; charset=utf-8"},
				"X-Zm-Request-Timestamp": {ts}, "X-Zm-Signature": {zoomSignature(secret, ts, zoomBody)}}
			status, _, _ := c.do("POST", "/webhooks/zoom/", "", zoomBody, h)
			return status
		}
	}
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	hooks := []hook{
		{"twilio wrong secret", pstnID, twilio("not-the-auth-token", c.p.url+twPath), true},
		{"twilio wrong URL", pstnID, twilio(campaignTwilioToken, "https://gateway.elsewhere.example"+twPath), true},
		{"twilio port dropped", pstnID, twilio(campaignTwilioToken, u.Scheme+"://"+u.Hostname()+twPath), true},
		{"zoom wrong secret", zoomID, zoom("not-the-webhook-secret", zoomTS), true},
		{"zoom stale timestamp", zoomID, zoom(campaignZoomSecret, stale), true},
	}
	refused, wrote := 0, 0
	for _, h := range hooks {
		before := events(h.id)
		status := h.send()
		if status >= 400 && status < 500 {
			refused++
		} else {
			t.Errorf("forged webhook %s: status %d, want 4xx", h.name, status)
		}
		if after := events(h.id); after != before {
			wrote++
			t.Errorf("forged webhook %s wrote %d events", h.name, after-before)
		}
	}

	// Accepted, then replayed as they were.
	replays := []hook{
		{name: "twilio", id: pstnID, send: twilio(campaignTwilioToken, c.p.url+twPath)},
		{name: "zoom", id: zoomID, send: zoom(campaignZoomSecret, zoomTS)},
	}
	acked, second := 0, 0
	for _, h := range replays {
		if status := h.send(); status/100 != 2 {
			t.Errorf("webhook %s signed by its secret: status %d, want 2xx", h.name, status)
			continue
		}
		time.Sleep(100 * time.Millisecond)
		before := events(h.id)
		status := h.send()
		if status/100 == 2 {
			acked++
		} else {
			t.Errorf("replayed webhook %s: status %d, want 2xx", h.name, status)
		}
		time.Sleep(100 * time.Millisecond)
		if after := events(h.id); after != before {
			second++
			t.Errorf("replayed webhook %s wrote %d more events, want none", h.name, after-before)
		}
	}
	campaignSay("campaign webhooks: %d forged, %d refused 4xx, %d wrote events; %d replays answered 2xx of %d, %d wrote a second event\n",
		len(hooks), refused, wrote, acked, len(replays), second)
	c.settle([]string{pstnID, zoomID}, 30*time.Second)
}

// connections holds 300 idle connections and 100 that send their headers
// a byte at a time, and checks that /healthz and the API each answer
// within a second meanwhile.
func (c *campaign) connections() {
	t := c.t
	addr := c.p.url[len("http://"):]
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	dial := func() net.Conn {
		cn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, cn)
		return cn
	}
	const idle, slow = 300, 100
	for range idle {
		dial()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range slow {
		cn := dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := "POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\nX-Slow: " + string(bytes.Repeat([]byte("a"), 200))
			for i := range len(head) {
				if _, err := cn.Write([]byte{head[i]}); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)

	const samples = 20
	var worstHealth, worstAPI time.Duration
	over := 0
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for range samples {
		for _, probe := range []struct {
			path, secret string
			worst        *time.Duration
		}{{"/healthz", "", &worstHealth}, {"/v1/devices?room=AW", c.tokens["ops"], &worstAPI}} {
			req, _ := http.NewRequest("GET", c.p.url+probe.path, nil)
			if probe.secret != "" {
				req.Header.Set("Authorization", "Bearer "+probe.secret)
			}
			began := time.Now()
			resp, err := fresh.Do(req)
			took := time.Since(began)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s with %d idle and %d slow connections: %v %v", probe.path, idle, slow, err, resp)
			}
			if resp != nil {
				resp.Body.Close()
			}
			*probe.worst = max(*probe.worst, took)
			if took > time.Second {
				over++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	campaignSay("campaign connections: %d idle and %d slow held; %d probes each of /healthz (slowest %s) and the API (slowest %s), %d over 1s\n",
		idle, slow, samples, worstHealth.Round(time.Millisecond), worstAPI.Round(time.Millisecond), over)
	if over != 0 {
		t.Errorf("connections: %d probes took over 1s", over)
	}
}

package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/mocks/incident"
	"github.com/safeconnection/gateway/outbox"
)

// TestOutboxSurvivesKill9: the gateway is killed (SIGKILL) while the
// incident system holds its first delivery unanswered; started again on
// the same store, it delivers both of the verification's messages, the
// first with the id it had before the kill, in order, and each once.
func TestOutboxSurvivesKill9(t *testing.T) {
	bin := multiBuild(t)
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := outbox.SecretPrefix + base64.StdEncoding.EncodeToString(raw)
	fake, err := incident.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	var hold atomic.Bool
	hold.Store(true)
	held := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() {
			// Read to the end, so that the server notices the connection
			// closing, and never answer: the gateway dies first.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case held <- r.Header.Get("webhook-id"):
			default:
			}
			<-r.Context().Done()
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	settings := append(campaignSettings(dir), "GATEWAY_INSTANCE=outbox-kill9",
		"GATEWAY_INCIDENT_URL="+srv.URL+"/incidents", "GATEWAY_INCIDENT_SECRET="+secret)
	p := multiSpawnArgs(t, bin, "outbox-kill9", []string{"-demo"}, settings)
	tokens := demoTokens(t, dir)
	client := multiClient(t)
	var v httpapi.VerificationView
	p.call(t, client, "POST", "/v1/verifications", tokens["officer"],
		verificationRequest(trafalgar, contact{gateway.Channel("facetime"), officerNumber}), http.StatusCreated, &v)
	p.call(t, client, "POST", "/v1/verifications/"+v.ID+"/cancel", tokens["officer"], nil, http.StatusOK, nil)
	var first string
	select {
	case first = <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery began within 30s of the verification closing")
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	hold.Store(false)

	p = multiSpawnArgs(t, bin, "outbox-kill9", []string{"-demo"}, settings)
	var got incident.Received
	multiEventually(t, "both messages delivered after the restart", 30*time.Second, func() bool {
		got = fake.Received()
		return len(got.Deliveries) >= 2
	})
	if len(got.Deliveries) != 2 || got.Repeats != 0 || got.Refused != 0 {
		t.Fatalf("received %+v", got)
	}
	if got.Deliveries[0].ID != first || got.Deliveries[0].Type != gateway.OutboxClosed || got.Deliveries[1].Type != gateway.OutboxFlagged {
		t.Fatalf("delivered %s (%s) then %s (%s); the delivery cut short was %s",
			got.Deliveries[0].ID, got.Deliveries[0].Type, got.Deliveries[1].ID, got.Deliveries[1].Type, first)
	}
	var body gateway.OutboxBody
	if err := json.Unmarshal(got.Deliveries[0].Body, &body); err != nil || body.Verification != v.ID || body.State != gateway.StateCancelled {
		t.Fatalf("message %s: %v", got.Deliveries[0].Body, err)
	}
	// The API shows both delivered, once the gateway has recorded it.
	var list httpapi.OutboxReply
	multiEventually(t, "both entries delivered in the API", 10*time.Second, func() bool {
		p.call(t, client, "GET", "/v1/outbox?verification="+v.ID, tokens["ops"], nil, http.StatusOK, &list)
		return len(list.Entries) == 2 && list.Entries[0].State == gateway.OutboxDelivered && list.Entries[1].State == gateway.OutboxDelivered
	})
	if list.Entries[0].ID != first || list.Entries[0].Attempts < 1 {
		t.Fatalf("outbox %+v", list.Entries)
	}
}

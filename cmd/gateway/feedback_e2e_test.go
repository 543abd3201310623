package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/mocks/agent"
	"github.com/safeconnection/gateway/mocks/incident"
	"github.com/safeconnection/gateway/outbox"
)

// newReceiver starts a fake Standard Webhooks receiver with a new secret.
func newReceiver(t *testing.T) (*incident.Server, string, string) {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := outbox.SecretPrefix + base64.StdEncoding.EncodeToString(raw)
	fake, err := incident.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL + "/in", secret
}

// TestFeedbackOnTheReceipt checks her feedback from outside: the form is
// refused while the check is live (409) and for a reference that matches
// nothing (404, as the receipt answers); once it has ended her feedback is
// taken once (a second is 409), bad fields are 400 with the form again; a
// misconduct report reaches professional standards (GATEWAY_STANDARDS_URL)
// signed with their secret, with her words, and the incident system gets
// only the closed check; her words are in no event, log line or receipt,
// and nothing of her connection is kept.
func TestFeedbackOnTheReceipt(t *testing.T) {
	incidents, iurl, isecret := newReceiver(t)
	standards, surl, ssecret := newReceiver(t)
	g := startGateway(t, testEnv(t, "GATEWAY_INCIDENT_URL="+iurl, "GATEWAY_INCIDENT_SECRET="+isecret,
		"GATEWAY_STANDARDS_URL="+surl, "GATEWAY_STANDARDS_SECRET="+ssecret), nil)
	d := g.addDevice(t, "AW", "+447700900505", facetimeWhatsApp("+447700900505"))
	g.startAgent(t, d, func(gateway.Order) agent.Behaviour { return agent.Behaviour{AnswerAfter: 100 * time.Millisecond} })

	v := g.request(t, trafalgar, contact{Channel: "facetime", Handle: "+447700900782"})
	g.waitState(t, v.ID, gateway.StateConnected)
	form := func(ref string, vals url.Values) answer {
		t.Helper()
		return g.exchange(t, "POST", "/receipt/"+ref+"/feedback", "", []byte(vals.Encode()),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	}
	const words = "He held my wrist and would not let me see his card"
	report := url.Values{"treated": {"badly"}, "explained": {"no"}, "misconduct": {"yes"}, "report": {words}}
	if a := form(v.Reference, report); a.status != http.StatusConflict {
		t.Fatalf("feedback while the check is live: %d, want 409", a.status)
	}
	g.outcome(t, v.ID, gateway.OutcomeVerified)

	if a := g.exchange(t, "GET", "/receipt/"+v.Reference+"/feedback", "", nil, nil); a.status != http.StatusOK || !bytes.Contains(a.body, []byte(`name="treated"`)) {
		t.Fatalf("the form: %d\n%s", a.status, a.body)
	}
	if a := form("ZZZZ-ZZZZ", report); a.status != http.StatusNotFound {
		t.Fatalf("feedback on no check: %d, want 404", a.status)
	}
	for name, bad := range map[string]url.Values{
		"no answer":      {"report": {"x"}},
		"unknown answer": {"treated": {"splendidly"}},
		"too long":       {"treated": {"well"}, "report": {strings.Repeat("a", 1001)}},
	} {
		if a := form(v.Reference, bad); a.status != http.StatusBadRequest || !bytes.Contains(a.body, []byte(`name="treated"`)) {
			t.Errorf("%s: %d, want 400 with the form again", name, a.status)
		}
	}
	if a := form(v.Reference, report); a.status != http.StatusCreated || !bytes.Contains(a.body, []byte("professional standards")) {
		t.Fatalf("her feedback: %d\n%s", a.status, a.body)
	}
	again := g.exchange(t, "POST", "/receipt/"+v.Reference+"/feedback", "", []byte(`{"treated":"well"}`),
		http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}})
	if again.status != http.StatusConflict {
		t.Fatalf("a second feedback: %d, want 409", again.status)
	}

	eventually(t, "the misconduct report at professional standards", func() bool { return len(standards.Received().Deliveries) > 0 })
	got := standards.Received().Deliveries
	var body gateway.MisconductBody
	if err := json.Unmarshal(got[0].Body, &body); err != nil || len(got) != 1 || body.Type != gateway.OutboxMisconduct ||
		body.Reference != v.Reference || body.Report != words || body.Officer != "PC 1234" || body.Treated != "badly" {
		t.Fatalf("professional standards received %+v (%v)", got, err)
	}
	eventually(t, "the closed check at the incident system", func() bool { return len(incidents.Received().Deliveries) > 0 })
	time.Sleep(300 * time.Millisecond)
	for _, del := range incidents.Received().Deliveries {
		if del.Type == gateway.OutboxMisconduct {
			t.Errorf("the incident system received the misconduct report too")
		}
	}

	var record strings.Builder
	flagged := false
	for _, ev := range g.events(t, v.ID) {
		b, _ := json.Marshal(ev)
		record.Write(b)
		flagged = flagged || ev.Data["feedback"] == "misconduct"
	}
	if !flagged {
		t.Error("the record has no event of the misconduct report")
	}
	_, receipt := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"application/json"}})
	for what, text := range map[string]string{"the record": record.String(), "the log": g.log.tail(1 << 30), "the receipt": string(receipt)} {
		if strings.Contains(text, words) {
			t.Errorf("%s holds her words", what)
		}
	}
}

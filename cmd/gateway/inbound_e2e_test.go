package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/adapters/twiliohook"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
)

// TestPublicCallsRoom runs the whole gateway with the fake Twilio on
// loopback: a member of the public calls the Central West room's published
// number, the room's handset answers, the supervisor records the outcome,
// and her receipt shows it. Her number is in no event, no API answer and
// no log line.
func TestPublicCallsRoom(t *testing.T) {
	t.Parallel()
	const caller = "+447700900777"
	tf, tcfg := startTwilio(t)
	g := startGateway(t, testEnv(t), func(c *config.Config) { twiliohook.Section.Set(c, tcfg) })
	tf.SetVoiceURL(g.m.PublicURL() + pstn.PathInbound)
	d := g.addDevice(t, "AW", "+447700900511", facetimeWhatsApp("+447700900511"))
	g.startAgent(t, d, nil)
	room, _ := g.m.Rooms.Room("AW")

	call, err := tf.CallIn(context.Background(), caller, room.Number)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "her call put through to the handset", func() bool { return call.Bridged() == d.Number })
	var id string
	eventually(t, "her verification connected", func() bool {
		vs, err := g.m.Store.Verifications(context.Background(), gateway.VerificationFilter{RoomID: "AW"})
		if err != nil || len(vs) != 1 {
			return false
		}
		id = vs[0].ID
		return vs[0].State == gateway.StateConnected
	})
	said := call.Said()
	if len(said) != 1 || !strings.Contains(said[0], "Metropolitan Police") || !strings.Contains(said[0], room.Name) {
		t.Fatalf("she heard %q: want the greeting naming the force and the room", said)
	}

	status, body := g.send(t, "GET", "/v1/verifications/"+id, g.supervisor, nil, nil)
	var v httpapi.VerificationView
	if err := json.Unmarshal(body, &v); err != nil || status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	if v.Origin != gateway.OriginPublic || v.Caller != "•••••••777" || v.Device != d.ID || v.Channel != gateway.ChannelPSTN ||
		len(v.Attempts) != 1 || v.Attempts[0].Result != gateway.ResultConnected {
		t.Fatalf("the supervisor sees %+v", v)
	}
	v = g.outcome(t, id, gateway.OutcomeVerified)
	if v.State != gateway.StateVerified {
		t.Fatalf("after the outcome: %s", v.State)
	}
	call.HangUp()
	<-call.Done()
	g.waitFree(t, d.ID)

	status, receipt := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"application/json"}})
	var rec httpapi.Receipt
	if err := json.Unmarshal(receipt, &rec); err != nil || status != http.StatusOK {
		t.Fatalf("receipt: %d %s", status, receipt)
	}
	if rec.Outcome != httpapi.ReceiptVerified || rec.Room != room.Name || rec.Force != "Metropolitan Police" {
		t.Fatalf("receipt %+v", rec)
	}
	_, page := g.send(t, "GET", "/receipt/"+v.Reference, "", nil, http.Header{"Accept": {"text/html"}})

	digits := regexp.MustCompile(`7700\D?900\D?777`)
	for _, ev := range g.events(t, id) {
		b, _ := json.Marshal(ev)
		if digits.Match(b) {
			t.Fatalf("event shows her number: %s", b)
		}
	}
	_, evAPI := g.send(t, "GET", "/v1/verifications/"+id+"/events", g.supervisor, nil, http.Header{"Accept": {"application/json"}})
	for what, b := range map[string][]byte{"verification": body, "events": evAPI, "receipt": receipt, "receipt page": page,
		"log": []byte(g.log.tail(1 << 30))} {
		if digits.Match(b) {
			t.Fatalf("the %s shows her number", what)
		}
	}
	if !strings.Contains(g.log.tail(1<<30), "public call connected") {
		t.Fatal("the log was not captured")
	}
}

// BenchmarkInboundAnswered measures a member of the public's call being
// answered through the whole gateway: Twilio's signed Voice webhook POSTed
// to /webhooks/twilio/inbound, its verification created, a handset claimed
// and the TwiML that dials it written back, one call at a time on SQLite
// (synchronous=FULL). The handset is freed between calls, off the clock.
// p50-ms and p99-ms are the webhook's latency; Twilio waits 15 s for it.
func BenchmarkInboundAnswered(b *testing.B) {
	_, tcfg := startTwilio(b)
	g := startGateway(b, testEnv(b, "GATEWAY_LOG_LEVEL=error", "GATEWAY_SQLITE_SYNCHRONOUS="+benchSync()), func(c *config.Config) { twiliohook.Section.Set(c, tcfg) })
	g.m.Logger.SetLevel(logrus.ErrorLevel)
	d := g.addDevice(b, "AW", "+447700900521", facetimeWhatsApp("+447700900521"))
	g.startAgent(b, d, nil)
	room, _ := g.m.Rooms.Room("AW")
	signed := g.m.PublicURL() + pstn.PathInbound
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		form := url.Values{"CallSid": {fmt.Sprintf("CA%032x", i+1)}, "AccountSid": {twilioSID}, "From": {"+447700900777"},
			"To": {room.Number}, "Caller": {"+447700900777"}, "Called": {room.Number}, "CallStatus": {"ringing"},
			"Direction": {"inbound"}, "ApiVersion": {"2010-04-01"}}
		start := time.Now()
		status, body := g.send(b, "POST", pstn.PathInbound, "", []byte(form.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "X-Twilio-Signature": {faketwilio.Sign(twilioToken, signed, form)}})
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if status != http.StatusOK || !strings.Contains(string(body), d.Number) {
			b.Fatalf("call %d: %d %s", i, status, body)
		}
		dev, err := g.m.Store.Device(ctx, d.ID)
		if err != nil || dev.Lease == nil {
			b.Fatalf("call %d: the handset was not claimed (%v)", i, err)
		}
		if err := g.m.Store.Release(ctx, *dev.Lease, "benchmark"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	benchPercentiles(b, lat)
}

// benchSync is the SQLite synchronous setting of BenchmarkInboundAnswered:
// full unless GATEWAY_BENCH_SYNCHRONOUS says otherwise.
func benchSync() string {
	if s := os.Getenv("GATEWAY_BENCH_SYNCHRONOUS"); s != "" {
		return s
	}
	return "full"
}

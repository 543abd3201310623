package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/httpapi"
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
	g := startGateway(t, testEnv(t), func(c *config.Config) { c.Twilio = tcfg })
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

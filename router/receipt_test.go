package router_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/router"
)

// receiptSender is a ReceiptSender that records what it was asked to send
// and answers with err, else with the message ID id.
type receiptSender struct {
	mu   sync.Mutex
	sent []string // "to reference link"
	id   string
	err  error
}

func (s *receiptSender) SendReceipt(_ context.Context, to, ref, link string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, to+" "+ref+" "+link)
	return s.id, s.err
}

func TestSendReceipt(t *testing.T) {
	const number = "+447700900123"
	st := newStore(t, filepath.Join(t.TempDir(), "gateway.db"))
	r, _ := testRouter(t, st)
	log := quietLogger()
	log.SetLevel(5) // debug: every line is captured
	hook := logtest.NewLocal(log)
	r.Logger = log
	r.ReportGrace = 50 * time.Millisecond
	sms := &receiptSender{id: "SM0123456789abcdef0123456789abcdef"}
	r.Receipts = map[string]router.ReceiptSender{router.ViaSMS: sms}
	r.ReceiptURL = "https://gw.example.police.uk/receipt/"

	ctx := context.Background()
	create := func(state gateway.State) gateway.Verification {
		t.Helper()
		v, _, err := st.CreateVerification(ctx, gateway.Verification{
			ID: gateway.NewID("v_"), Reference: gateway.NewReference(), State: state, RoomID: "AW",
			Officer: gateway.Officer{Collar: "PC 1234", Warrant: "W123456"}, RequestedBy: "t_officer",
		}, "", gateway.Event{Type: gateway.EventState, Message: "requested"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	verified, live := create(gateway.StateVerified), create(gateway.StateDialling)

	for _, tt := range []struct {
		name, id, via string
		code          string
	}{
		{"unknown verification", "v_nosuch", router.ViaSMS, gateway.ENOTFOUND},
		{"not ended", live.ID, router.ViaSMS, gateway.ECONFLICT},
		{"unknown way", verified.ID, "fax", gateway.EINVALID},
		{"way not configured", verified.ID, router.ViaWhatsApp, gateway.EUNAVAILABLE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.SendReceipt(ctx, tt.id, number, tt.via); gateway.ErrorCode(err) != tt.code {
				t.Errorf("SendReceipt: %v, want %s", err, tt.code)
			}
		})
	}
	if len(sms.sent) != 0 {
		t.Fatalf("sent %v for requests refused", sms.sent)
	}

	ev, err := r.SendReceipt(ctx, verified.ID, number, router.ViaSMS)
	if err != nil {
		t.Fatal(err)
	}
	want := number + " " + verified.Reference + " https://gw.example.police.uk/receipt/" + verified.Reference
	if len(sms.sent) != 1 || sms.sent[0] != want {
		t.Fatalf("sent %q, want %q", sms.sent, want)
	}
	if ev.Message != "receipt sent by sms to •••••••123" || ev.Data[gateway.DataMessage] != sms.id || ev.Data[router.DataTo] != "•••••••123" || ev.Seq == 0 {
		t.Fatalf("note %+v", ev)
	}

	// Its statuses join the record, once each.
	for _, rep := range []gateway.Report{
		{MessageID: sms.id, Status: gateway.ReportSent},
		{MessageID: sms.id, Status: gateway.ReportDelivered},
		{MessageID: sms.id, Status: gateway.ReportDelivered},
	} {
		if err := r.Report(ctx, rep); err != nil {
			t.Fatalf("report %s: %v", rep.Status, err)
		}
	}

	// A message the service refused to send is recorded, and answered
	// unavailable.
	sms.err = &gateway.CallError{Fate: gateway.NotPlaced, Provider: "twilio", Err: errors.New("twilio said 503 for " + number)}
	if _, err := r.SendReceipt(ctx, verified.ID, number, router.ViaSMS); gateway.ErrorCode(err) != gateway.EUNAVAILABLE || strings.Contains(gateway.ErrorMessage(err), "123") {
		t.Fatalf("a send that failed: %v, want unavailable, without the number", err)
	}

	evs, err := st.Events(ctx, verified.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, ev := range evs {
		if ev.Type == gateway.EventNote {
			notes = append(notes, ev.Message)
		}
		for k, v := range ev.Data {
			if strings.Contains(v, "900123") {
				t.Errorf("event %q keeps the number in %s", ev.Message, k)
			}
		}
		if strings.Contains(ev.Message, "900123") {
			t.Errorf("event %q shows the number", ev.Message)
		}
	}
	wantNotes := []string{
		"receipt sent by sms to •••••••123",
		"receipt passed on by the sms service",
		"receipt delivered by sms",
		"receipt could not be sent by sms to •••••••123 (not_placed)",
	}
	if strings.Join(notes, "\n") != strings.Join(wantNotes, "\n") {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(notes, "\n"), strings.Join(wantNotes, "\n"))
	}
	for _, e := range hook.AllEntries() {
		line, _ := e.String()
		if strings.Contains(line, "900123") {
			t.Errorf("log line holds the number: %s", line)
		}
	}
}

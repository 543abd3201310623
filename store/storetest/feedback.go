package storetest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// testFeedback: her feedback is kept once per verification (a second,
// even at once from many, is ECONFLICT), with its event in the record
// (without her words), listed by FeedbackSince; a misconduct report
// writes one outbox entry with what she said and nothing of her; an
// unknown verification is ENOTFOUND. The store delivers to an incident
// system (RunOutbox opens it so).
func testFeedback(t *testing.T, s gateway.Store) {
	c := ctx(t)
	mustVerification(t, s, verification("v1", "t_a"))
	mustVerification(t, s, verification("v2", "t_a"))
	closeVerification(t, s, "v1")
	closeVerification(t, s, "v2")
	before := now(t, s).Add(-time.Second)
	event := func(id string) gateway.Event {
		return gateway.Event{VerificationID: id, Type: gateway.EventNote, Message: "her feedback: treated badly; misconduct reported",
			Data: map[string]string{"feedback": "misconduct"}}
	}
	const words = "He grabbed my arm and would not show his card"
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AddFeedback(c, gateway.Feedback{VerificationID: "v1", Treated: gateway.FeedbackBadly, Explained: "no",
				Misconduct: true, Report: words}, event("v1"))
		}()
	}
	wg.Wait()
	kept := 0
	for _, err := range errs {
		switch gateway.ErrorCode(err) {
		case "":
			kept++
		case gateway.ECONFLICT:
		default:
			t.Fatalf("feedback at once: %v", err)
		}
	}
	if kept != 1 {
		t.Fatalf("%d of 8 feedback given at once were kept, want 1", kept)
	}
	if _, err := s.AddFeedback(c, gateway.Feedback{VerificationID: "v2", Treated: gateway.FeedbackWell, Explained: "yes"}, event("v2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddFeedback(c, gateway.Feedback{VerificationID: "v_none", Treated: gateway.FeedbackWell}, event("v_none")); gateway.ErrorCode(err) != gateway.ENOTFOUND {
		t.Fatalf("feedback on no verification: %v, want ENOTFOUND", err)
	}

	fs, err := s.FeedbackSince(c, before)
	must(t, err)
	if len(fs) != 2 || fs[0].VerificationID != "v1" || !fs[0].Misconduct || fs[0].Report != words || fs[0].Treated != gateway.FeedbackBadly ||
		fs[1].VerificationID != "v2" || fs[1].Misconduct || fs[0].At.Before(before) {
		t.Fatalf("feedback since %v: %+v", before, fs)
	}
	if later, err := s.FeedbackSince(c, fs[1].At.Add(time.Second)); err != nil || len(later) != 0 {
		t.Fatalf("feedback since after the last: %+v, %v", later, err)
	}

	evs, err := s.Events(c, "v1", 0, 0)
	must(t, err)
	notes := 0
	for _, ev := range evs {
		if ev.Data["feedback"] != "" {
			notes++
		}
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), words) {
			t.Errorf("an event holds her words: %s", b)
		}
	}
	if notes != 1 {
		t.Errorf("%d feedback events in v1's record, want 1", notes)
	}

	es, err := s.OutboxEntries(c, gateway.OutboxFilter{})
	must(t, err)
	var misconduct []gateway.OutboxEntry
	for _, e := range es {
		if e.Type == gateway.OutboxMisconduct {
			misconduct = append(misconduct, e)
		}
	}
	if len(misconduct) != 1 || misconduct[0].VerificationID != "v1" {
		t.Fatalf("misconduct entries %+v, want v1's alone", misconduct)
	}
	full, err := s.OutboxEntry(c, misconduct[0].ID)
	must(t, err)
	var body gateway.MisconductBody
	must(t, json.Unmarshal(full.Body, &body))
	if body.Type != gateway.OutboxMisconduct || body.Verification != "v1" || body.Report != words || body.Treated != gateway.FeedbackBadly {
		t.Fatalf("the misconduct entry's body %s", full.Body)
	}
	for _, p := range []string{"+447700900111", "join.example.org"} {
		if strings.Contains(string(full.Body), p) {
			t.Errorf("the misconduct entry holds %q: %s", p, full.Body)
		}
	}
}

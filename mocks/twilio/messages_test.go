package twilio_test

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

const messagesPath = "/2010-04-01/Accounts/" + accountSID + "/Messages.json"

// messageStatuses waits for n message status callbacks and returns them.
func (rc *receiver) messageStatuses(tb testing.TB, n int) []url.Values {
	tb.Helper()
	end := time.Now().Add(5 * time.Second)
	for {
		rc.mu.Lock()
		var got []url.Values
		for _, f := range rc.got {
			if f.Get("MessageSid") != "" {
				got = append(got, f)
			}
		}
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(end) {
			tb.Fatalf("%d message callbacks, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMessagePlayedOut(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, outcome string
		code          int
		service       bool
	}{
		{name: "delivered", outcome: "delivered"},
		{name: "undelivered", outcome: "undelivered", code: 30003},
		{name: "failed, through a messaging service", outcome: "failed", code: 30005, service: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.outcome != "delivered" {
				e.fake.SetMessageOutcome(tt.outcome, tt.code)
			}
			form := url.Values{"To": {"+447700900123"}, "Body": {"Metropolitan Police: your reference is K7QX-M4TR"},
				"StatusCallback": {e.rc.srv.URL + "/webhooks/twilio/messages"}}
			initial := "queued"
			if tt.service {
				form.Set("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef")
				initial = "accepted"
			} else {
				form.Set("From", "+442079460000")
			}
			resp, body := e.post(t, messagesPath, form, accountSID, authToken)
			sid, _ := body["sid"].(string)
			if resp.StatusCode != 201 || len(sid) != 34 || sid[:2] != "SM" || body["status"] != initial || body["to"] != "+447700900123" || body["body"] != form.Get("Body") {
				t.Fatalf("create: %d %v", resp.StatusCode, body)
			}
			got := e.rc.messageStatuses(t, 2)
			for i, want := range []string{"sent", tt.outcome} {
				cb := got[i]
				if cb.Get("MessageSid") != sid || cb.Get("SmsSid") != sid || cb.Get("MessageStatus") != want || cb.Get("SmsStatus") != want ||
					cb.Get("AccountSid") != accountSID || cb.Get("To") != "+447700900123" || cb.Get("_path") != "/webhooks/twilio/messages" {
					t.Errorf("callback %d: %v, want %s of %s", i, cb, want, sid)
				}
				wantCode := ""
				if want == "undelivered" || want == "failed" {
					wantCode = strconv.Itoa(tt.code)
				}
				if cb.Get("ErrorCode") != wantCode {
					t.Errorf("callback %d: ErrorCode %q, want %q", i, cb.Get("ErrorCode"), wantCode)
				}
			}
			if e.rc.bad != 0 {
				t.Errorf("%d callbacks with a bad signature", e.rc.bad)
			}
			msgs := e.fake.Messages()
			if len(msgs) != 1 || msgs[0].SID != sid || msgs[0].Status != tt.outcome || msgs[0].ErrorCode != tt.code {
				t.Errorf("Messages() = %+v", msgs)
			}
			e.specOK(t)
		})
	}
}

func TestMessageErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := url.Values{"To": {"+447700900123"}, "From": {"+442079460000"}, "Body": {"hello"}}
	with := func(k, v string) url.Values {
		out := url.Values{}
		for kk, vv := range good {
			out[kk] = vv
		}
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		form   url.Values
		pass   string
		status int
		code   float64
	}{
		{"wrong token", good, "nope", 401, 20003},
		{"no To", with("To", ""), authToken, 400, 21604},
		{"no From", with("From", ""), authToken, 400, 21603},
		{"no Body", with("Body", ""), authToken, 400, 21602},
		{"To not E.164", with("To", "07700900123"), authToken, 400, 21211},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post(t, messagesPath, tt.form, accountSID, tt.pass)
			if resp.StatusCode != tt.status || body["code"] != tt.code {
				t.Errorf("got %d %v, want %d code %v", resp.StatusCode, body, tt.status, tt.code)
			}
		})
	}
	if n := len(e.fake.Messages()); n != 0 {
		t.Errorf("%d messages kept from refused requests", n)
	}
}

package twiliohook_test

import (
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/twiliohook"
)

func TestCallback(t *testing.T) {
	sid := regexp.MustCompile(`^CA[0-9a-f]{32}$`)
	call := "CA0123456789abcdef0123456789abcdef"
	now := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		query    string
		form     url.Values
		wantErr  string // the client-safe message; "": none
		wantRep  gateway.Report
		wantSays string
	}{
		{name: "with its attempt", query: "attempt=a_0123", form: url.Values{"CallSid": {call}, "CallStatus": {"ringing"}},
			wantRep: gateway.Report{Channel: gateway.ChannelPSTN, AttemptID: "a_0123", ProviderRef: call, At: now}, wantSays: "ringing"},
		{name: "without one", form: url.Values{"CallSid": {call}, "CallStatus": {"completed"}},
			wantRep: gateway.Report{Channel: gateway.ChannelPSTN, ProviderRef: call, At: now}, wantSays: "completed"},
		{name: "bad attempt", query: "attempt=x%27", form: url.Values{"CallSid": {call}, "CallStatus": {"ringing"}}, wantErr: "bad attempt ID"},
		{name: "bad sid", form: url.Values{"CallSid": {"RM1"}, "CallStatus": {"ringing"}}, wantErr: "bad or missing CallSid"},
		{name: "no status", form: url.Values{"CallSid": {call}}, wantErr: "missing CallStatus"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			rep, says, err := twiliohook.Callback(gateway.ChannelPSTN, now, q, tt.form, "CallSid", sid, "CallStatus")
			if tt.wantErr != "" {
				if gateway.ErrorCode(err) != gateway.EINVALID || gateway.ErrorMessage(err) != tt.wantErr {
					t.Fatalf("Callback: %v, want invalid %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || rep != tt.wantRep || says != tt.wantSays {
				t.Errorf("Callback = %+v, %q, %v; want %+v, %q", rep, says, err, tt.wantRep, tt.wantSays)
			}
		})
	}
}

package twilio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway/mocks/twilio"
)

// A call from the public: the Voice webhook is posted, signed, with the
// parameters Twilio sends; its TwiML is played: Say, Pause, Redirect
// (fetched, signed), Dial to a number that does not answer (its callbacks
// and the action posted), the action's TwiML, Hangup.
func TestCallIn(t *testing.T) {
	f := twilio.New(accountSID, authToken)
	f.Step, f.RingOut = time.Millisecond, 20*time.Millisecond
	f.SetPauseUnit(time.Millisecond)
	defer f.Close()
	var mu sync.Mutex
	var got []string // path and CallStatus (and DialCallStatus) of each request, in order
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		if sig := r.Header.Get("X-Twilio-Signature"); sig != twilio.Sign(authToken, srv.URL+r.URL.RequestURI(), form) {
			t.Errorf("%s: bad signature", r.URL.Path)
		}
		mu.Lock()
		got = append(got, strings.TrimSpace(r.URL.Path+" "+form.Get("CallStatus")+" "+form.Get("DialCallStatus")))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		switch r.URL.Path {
		case "/voice":
			for k, want := range map[string]string{"From": "+447700900777", "Caller": "+447700900777", "To": "+442079460101",
				"Called": "+442079460101", "Direction": "inbound", "AccountSid": accountSID, "ApiVersion": "2010-04-01"} {
				if form.Get(k) != want {
					t.Errorf("voice webhook %s = %q, want %q", k, form.Get(k), want)
				}
			}
			fmt.Fprintf(w, `<?xml version="1.0"?><Response><Say>hello</Say><Pause length="2"/><Redirect method="POST">%s/wait?n=1</Redirect><Say>never</Say></Response>`, srv.URL)
		case "/wait":
			fmt.Fprintf(w, `<Response><Dial action="%[1]s/dial" timeout="5" callerId="+442079460101"><Number statusCallback="%[1]s/leg" statusCallbackEvent="answered completed">+447700900501</Number></Dial></Response>`, srv.URL)
		case "/dial":
			fmt.Fprint(w, `<Response><Say>sorry</Say><Hangup/><Say>never</Say></Response>`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	f.SetVoiceURL(srv.URL + "/voice")
	f.SetNumber("+447700900501", twilio.NoAnswer)
	c, err := f.CallIn(context.Background(), "+447700900777", "+442079460101")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end")
	}
	if c.Err() != nil || !slices.Equal(c.Said(), []string{"hello", "sorry"}) || !slices.Equal(c.Dialled(), []string{"+447700900501"}) || c.Status() != "completed" {
		t.Fatalf("said %q, dialled %q, status %s, error %v", c.Said(), c.Dialled(), c.Status(), c.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/voice ringing", "/wait in-progress", "/leg no-answer", "/dial in-progress no-answer"}
	if !slices.Equal(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
}

// A webhook that does not answer TwiML ends the call with an error.
func TestCallInRefused(t *testing.T) {
	f := twilio.New(accountSID, authToken)
	defer f.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":"bad_signature"}}`, http.StatusForbidden)
	}))
	defer srv.Close()
	if _, err := f.CallIn(context.Background(), "+447700900777", "+442079460101"); err == nil {
		t.Fatal("no Voice URL: want an error")
	}
	f.SetVoiceURL(srv.URL)
	c, err := f.CallIn(context.Background(), "+447700900777", "+442079460101")
	if err == nil || !strings.Contains(err.Error(), "403") || c.Status() != "completed" {
		t.Fatalf("refused: %v, status %s", err, c.Status())
	}
}

// POST /fake/inbound places a call as CallIn does; GET shows it; the
// hangup form ends it.
func TestInboundEndpoint(t *testing.T) {
	f := twilio.New(accountSID, authToken)
	f.Step = time.Millisecond
	defer f.Close()
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<Response><Say>hold</Say><Pause length="600"/></Response>`)
	}))
	defer gw.Close()
	f.SetVoiceURL(gw.URL)
	fake := httptest.NewServer(f)
	defer fake.Close()
	post := func(body string) (int, twilio.InboundView) {
		resp, err := http.Post(fake.URL+twilio.InboundPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v twilio.InboundView
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	status, v := post(`{"from":"+447700900777","to":"+442079460101"}`)
	if status != http.StatusCreated || v.SID == "" || v.Status != "in-progress" {
		t.Fatalf("POST: %d %+v", status, v)
	}
	if status, _ := post(`{"from":"+447700900777","to":"not a number"}`); status != http.StatusBadRequest {
		t.Fatalf("a bad number: %d, want 400", status)
	}
	if status, got := post(`{"sid":"` + v.SID + `","hangup":true}`); status != http.StatusOK || got.SID != v.SID {
		t.Fatalf("hangup: %d %+v", status, got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(fake.URL + twilio.InboundPath + "?sid=" + v.SID)
		if err != nil {
			t.Fatal(err)
		}
		var got twilio.InboundView
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if got.Status == "completed" && slices.Equal(got.Said, []string{"hold"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the hangup: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

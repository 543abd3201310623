package pstn_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/pstn"
)

var callerKey = []byte("caller-key-for-tests")

func voiceForm(to string) url.Values {
	return url.Values{"CallSid": {"CA" + strings.Repeat("ab", 16)}, "AccountSid": {accountSID}, "From": {"+447700900777"},
		"To": {to}, "Caller": {"+447700900777"}, "Called": {to}, "CallStatus": {"ringing"}, "Direction": {"inbound"}, "ApiVersion": {"2010-04-01"}}
}

func TestDecodeInbound(t *testing.T) {
	t.Parallel()
	call, err := pstn.DecodeInbound(voiceForm("+442079460101"), accountSID, callerKey)
	if err != nil || call.CallSID != "CA"+strings.Repeat("ab", 16) || call.To != "+442079460101" ||
		call.Caller != "•••••••777" || call.CallerHash != gateway.HashCaller(callerKey, "+447700900777") {
		t.Fatalf("decoded %+v, %v", call, err)
	}
	withheld := voiceForm("+442079460101")
	withheld.Set("From", "anonymous")
	if call, err := pstn.DecodeInbound(withheld, accountSID, callerKey); err != nil || call.Caller != "" || call.CallerHash != "" {
		t.Fatalf("a withheld number: %+v, %v", call, err)
	}
	for name, change := range map[string]func(url.Values){
		"no CallSid":      func(f url.Values) { f.Del("CallSid") },
		"outbound":        func(f url.Values) { f.Set("Direction", "outbound-api") },
		"another account": func(f url.Values) { f.Set("AccountSid", "AC"+strings.Repeat("0", 32)) },
		"To not a number": func(f url.Values) { f.Set("To", "room AW") },
		"no CallStatus":   func(f url.Values) { f.Del("CallStatus") },
	} {
		form := voiceForm("+442079460101")
		change(form)
		if _, err := pstn.DecodeInbound(form, accountSID, callerKey); gateway.ErrorCode(err) != gateway.EINVALID || strings.Contains(err.Error(), "900777") {
			t.Errorf("%s: %v, want EINVALID without the caller's number", name, err)
		}
	}
}

// FuzzDecodeInbound: whatever form arrives, DecodeInbound never panics,
// and what it accepts is a call with a valid SID and number called whose
// caller is only masked and hashed.
func FuzzDecodeInbound(f *testing.F) {
	for _, seed := range []string{
		voiceForm("+442079460101").Encode(),
		url.Values{"CallSid": {"CA" + strings.Repeat("0", 32)}, "AccountSid": {accountSID}, "From": {"anonymous"}, "To": {"+442079460101"}, "CallStatus": {"ringing"}, "Direction": {"inbound"}}.Encode(),
		"CallSid=CA00&To=%2B44&Direction=inbound",
		"From=%2B447700900777&From=%2B1&To=%2B442079460101&Direction=inbound&CallStatus=ringing&CallSid=CAabababababababababababababababab&AccountSid=" + accountSID,
		"",
		"%zz=1",
	} {
		f.Add(seed)
	}
	masked := regexp.MustCompile(`^(•{7}[0-9]{3})?$`)
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		call, err := pstn.DecodeInbound(form, accountSID, callerKey)
		if err != nil {
			if gateway.ErrorCode(err) != gateway.EINVALID {
				t.Fatalf("error %v: want EINVALID", err)
			}
			// The error says nothing of the caller: with another From it
			// is the same (a From that merely spells a word of the
			// message, "bound" in "inbound", is no quote of it).
			if from := form.Get("From"); from != "" {
				other := url.Values{}
				for k, v := range form {
					other[k] = v
				}
				other.Set("From", from+"0")
				if _, err2 := pstn.DecodeInbound(other, accountSID, callerKey); err2 != nil && err2.Error() != err.Error() &&
					strings.Contains(err.Error(), from) {
					t.Fatalf("error %q quotes the caller", err)
				}
			}
			return
		}
		if !regexp.MustCompile(`^CA[0-9a-fA-F]{32}$`).MatchString(call.CallSID) || !strings.HasPrefix(call.To, "+") {
			t.Fatalf("accepted %+v", call)
		}
		if !masked.MatchString(call.Caller) || (call.Caller == "") != (call.CallerHash == "") {
			t.Fatalf("caller %q hash %q", call.Caller, call.CallerHash)
		}
		if from := form.Get("From"); len(from) > 4 && (strings.Contains(call.Caller, from) || strings.Contains(call.CallerHash, from)) {
			t.Fatalf("caller kept in clear: %+v", call)
		}
	})
}

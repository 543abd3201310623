package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// A verification's view says its origin; a public caller's shows her
// number only masked, never its hash, and no officer's advice.
func TestVerificationViewOrigin(t *testing.T) {
	pub := httpapi.NewVerificationView(gateway.Verification{ID: "v_1", State: gateway.StateFailed, Origin: gateway.OriginPublic,
		Caller: "•••••••777", CallerHash: "c0ffee" + strings.Repeat("0", 58)})
	b, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["origin"] != "public" || got["caller"] != "•••••••777" || got["advice"] != "" || strings.Contains(string(b), "c0ffee") {
		t.Fatalf("public view: %s", b)
	}
	old := httpapi.NewVerificationView(gateway.Verification{ID: "v_2", State: gateway.StateFailed})
	if old.Origin != gateway.OriginOfficer || old.Advice != gateway.Advice999 || old.Caller != "" {
		t.Fatalf("officer's view: %+v", old)
	}
}

package router_test

import (
	"slices"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/router"
)

func TestRankerDemotesAndRecovers(t *testing.T) {
	zm, wa, ft := gateway.Channel("zoom"), gateway.Channel("whatsapp"), gateway.Channel("facetime")
	officer := []gateway.Channel{zm, wa, ft}
	k := router.NewRanker()
	if got := k.Order(officer); !slices.Equal(got, officer) {
		t.Fatalf("with no record the officer's order changed: %v", got)
	}
	// Zoom fails four times: too few attempts to judge.
	for range 4 {
		k.Record(zm, gateway.ResultNotPlaced, time.Second)
		k.Record(wa, gateway.ResultConnected, 2*time.Second)
	}
	if got := k.Order(officer); !slices.Equal(got, officer) {
		t.Fatalf("demoted on %d attempts: %v", 4, got)
	}
	// A fifth failure: Zoom's success rate is far below WhatsApp's.
	k.Record(zm, gateway.ResultNoAnswer, time.Second)
	k.Record(wa, gateway.ResultConnected, 2*time.Second)
	if got, want := k.Order(officer), []gateway.Channel{wa, ft, zm}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v (zoom behind, the others in the officer's order)", got, want)
	}
	// Skipped attempts (breaker open) do not count either way.
	for range 20 {
		k.Record(zm, gateway.ResultSkipped, 0)
	}
	if got := k.Order(officer); got[2] != zm {
		t.Fatalf("skips changed zoom's standing: %v", got)
	}
	// Zoom recovers: it drifts back to the officer's first choice.
	n := 0
	for slices.Index(k.Order(officer), zm) != 0 {
		k.Record(zm, gateway.ResultConnected, 2*time.Second)
		if n++; n > 20 {
			t.Fatalf("zoom never recovered: %v", k.Stats())
		}
	}
	if n < 2 {
		t.Fatalf("zoom recovered after %d success: too jumpy", n)
	}
}

func TestRankerDemotesSlowChannel(t *testing.T) {
	zm, wa := gateway.Channel("zoom"), gateway.Channel("whatsapp")
	k := router.NewRanker()
	for range 6 {
		k.Record(zm, gateway.ResultConnected, 15*time.Second)
		k.Record(wa, gateway.ResultConnected, 2*time.Second)
	}
	if got := k.Order([]gateway.Channel{zm, wa}); !slices.Equal(got, []gateway.Channel{wa, zm}) {
		t.Fatalf("a channel 7x slower to connect kept its place: %v", got)
	}
	// Only a little slower: the officer's order stands.
	k2 := router.NewRanker()
	for range 6 {
		k2.Record(zm, gateway.ResultConnected, 3*time.Second)
		k2.Record(wa, gateway.ResultConnected, 2*time.Second)
	}
	if got := k2.Order([]gateway.Channel{zm, wa}); !slices.Equal(got, []gateway.Channel{zm, wa}) {
		t.Fatalf("a channel 1.5x slower was demoted: %v", got)
	}
}

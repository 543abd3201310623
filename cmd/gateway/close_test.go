package main

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// TestCloseEndsStreams checks that closing the gateway ends an open event
// stream at once rather than waiting out the shutdown grace period (5 s),
// and that Close can be called again.
func TestCloseEndsStreams(t *testing.T) {
	g := startGateway(t, testEnv(t), nil)
	// No device: the verification waits, queued, and its stream stays open.
	v := g.request(t, trafalgar, contact{gateway.Channel("facetime"), officerNumber})

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	sc := bufio.NewScanner(g.openEvents(t, ctx, v.ID).Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: ") {
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for sc.Scan() {
		}
	}()

	start := time.Now()
	if err := g.m.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	took := time.Since(start)
	select {
	case <-ended:
	case <-ctx.Done():
		t.Fatal("the event stream was still open after Close")
	}
	// Four seconds is far above a prompt close and below the grace period
	// after which the server would have cut the stream off by force.
	if took > 4*time.Second {
		t.Errorf("Close took %s: it waited for the stream instead of ending it", took)
	}
	if err := g.m.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

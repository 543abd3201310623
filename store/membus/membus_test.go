package membus_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/safeconnection/gateway/store/membus"
)

func TestDelivery(t *testing.T) {
	ctx := context.Background()
	b := membus.New()
	a1, cancelA1 := b.Subscribe("a")
	defer cancelA1()
	a2, cancelA2 := b.Subscribe("a")
	defer cancelA2()
	other, cancelOther := b.Subscribe("b")
	defer cancelOther()

	for i := range 3 {
		if err := b.Publish(ctx, "a", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ch := range []<-chan string{a1, a2} {
		for i := range 3 {
			if got := receive(t, ch); got != strconv.Itoa(i) {
				t.Fatalf("message %d = %q, want %q", i, got, strconv.Itoa(i))
			}
		}
	}
	select {
	case m := <-other:
		t.Fatalf("topic b got %q published on a", m)
	default:
	}
}

func TestOnlyMessagesAfterSubscribe(t *testing.T) {
	ctx := context.Background()
	b := &membus.Bus{} // the zero value works
	b.Publish(ctx, "t", "before")
	ch, cancel := b.Subscribe("t")
	defer cancel()
	b.Publish(ctx, "t", "after")
	if got := receive(t, ch); got != "after" {
		t.Fatalf("got %q, want after", got)
	}
}

func TestFullBufferDropsWithoutBlocking(t *testing.T) {
	ctx := context.Background()
	b := &membus.Bus{Buffer: 2}
	slow, cancelSlow := b.Subscribe("t")
	defer cancelSlow()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			b.Publish(ctx, "t", strconv.Itoa(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a full subscriber")
	}
	if got := receive(t, slow); got != "0" {
		t.Fatalf("first = %q, want 0", got)
	}
	if got := receive(t, slow); got != "1" {
		t.Fatalf("second = %q, want 1", got)
	}
	select {
	case m := <-slow:
		t.Fatalf("got %q beyond the buffer", m)
	default:
	}
	// Room again: the next message arrives.
	b.Publish(ctx, "t", "next")
	if got := receive(t, slow); got != "next" {
		t.Fatalf("got %q, want next", got)
	}
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	b := membus.New()
	ch, cancel := b.Subscribe("t")
	keep, cancelKeep := b.Subscribe("t")
	defer cancelKeep()
	if n := b.Subscribers("t"); n != 2 {
		t.Fatalf("Subscribers = %d, want 2", n)
	}
	cancel()
	cancel() // idempotent
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after cancel")
	}
	if n := b.Subscribers("t"); n != 1 {
		t.Fatalf("Subscribers = %d after cancel, want 1", n)
	}
	b.Publish(ctx, "t", "x")
	if got := receive(t, keep); got != "x" {
		t.Fatalf("other subscriber got %q, want x", got)
	}
	cancelKeep()
	if n := b.Subscribers("t"); n != 0 {
		t.Fatalf("Subscribers = %d, want 0", n)
	}
}

func TestClose(t *testing.T) {
	b := membus.New()
	ch, cancel := b.Subscribe("t")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel open after Close")
	}
	cancel() // after Close: no panic
	late, cancelLate := b.Subscribe("t")
	defer cancelLate()
	if _, ok := <-late; ok {
		t.Fatal("subscription after Close is open")
	}
	if err := b.Publish(context.Background(), "t", "x"); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent publishes, subscribes and cancels at once; run with -race.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	b := &membus.Bus{Buffer: 4}
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				b.Publish(ctx, "t"+strconv.Itoa(i%2), strconv.Itoa(p))
			}
		})
	}
	for range 20 {
		wg.Go(func() {
			for range 50 {
				ch, cancel := b.Subscribe("t0")
				select {
				case <-ch:
				default:
				}
				var both sync.WaitGroup
				both.Go(cancel) // two concurrent cancels are harmless
				both.Go(cancel)
				both.Wait()
			}
		})
	}
	wg.Wait()
	if n := b.Subscribers("t0"); n != 0 {
		t.Fatalf("Subscribers = %d after every cancel, want 0", n)
	}
}

func receive(t testing.TB, ch <-chan string) string {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return ""
}

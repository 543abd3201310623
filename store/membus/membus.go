// Package membus is an in-memory gateway.Bus: topics fan out to subscribers
// within one process. Publish never blocks; a subscriber whose buffer is full
// misses the message, which is safe because a bus message only says "look in
// the store". The SQLite store uses it as its bus, and the PostgreSQL store
// uses it for delivery inside one instance.
package membus

import (
	"context"
	"sync"

	"github.com/safeconnection/gateway"
)

// DefaultBuffer is the size of a subscriber's channel when Bus.Buffer is not
// set.
const DefaultBuffer = 64

// Bus is an in-memory publish/subscribe bus. The zero value is ready to use.
type Bus struct {
	// Buffer is the capacity of each new subscriber's channel (DefaultBuffer
	// when zero or negative). A message published to a full channel is
	// dropped for that subscriber.
	Buffer int

	mu     sync.RWMutex
	subs   map[string]map[*sub]struct{}
	closed bool
}

type sub struct{ ch chan string }

// New returns a Bus with the default buffer.
func New() *Bus { return &Bus{Buffer: DefaultBuffer} }

// Publish hands payload to every current subscriber of topic that has room
// for it, and never waits. It returns nil, also after Close.
func (b *Bus) Publish(_ context.Context, topic, payload string) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs[topic] {
		select {
		case s.ch <- payload:
		default: // full: this subscriber misses it
		}
	}
	return nil
}

// Subscribe returns a channel of the payloads published on topic from now on
// and a function that ends the subscription and closes the channel. The
// function may be called any number of times, from any goroutine. After
// Close, the channel returned is already closed.
func (b *Bus) Subscribe(topic string) (<-chan string, func()) {
	n := b.Buffer
	if n <= 0 {
		n = DefaultBuffer
	}
	s := &sub{ch: make(chan string, n)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	if b.subs == nil {
		b.subs = make(map[string]map[*sub]struct{})
	}
	if b.subs[topic] == nil {
		b.subs[topic] = make(map[*sub]struct{})
	}
	b.subs[topic][s] = struct{}{}
	return s.ch, func() { b.cancel(topic, s) }
}

// cancel removes s from topic and closes its channel, once. Publish sends
// only under the read lock, so nothing can send on the closed channel.
func (b *Bus) cancel(topic string, s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := b.subs[topic]
	if _, ok := subs[s]; !ok {
		return // already cancelled, or closed by Close
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(b.subs, topic)
	}
	close(s.ch)
}

// Subscribers returns the number of live subscriptions to topic.
func (b *Bus) Subscribers(topic string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs[topic])
}

// Close ends every subscription, closing their channels, and makes later
// subscriptions start closed. It is idempotent and returns nil.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, subs := range b.subs {
		for s := range subs {
			close(s.ch)
		}
	}
	b.subs = nil
	return nil
}

// Interface guards
var _ gateway.Bus = (*Bus)(nil)

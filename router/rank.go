package router

import (
	"sort"
	"sync"
	"time"

	"github.com/safeconnection/gateway"
)

// Ranker learns which channels are working now and moves a channel that is
// doing much worse than the officer's others behind them, within his
// preferences; it drifts back as the channel recovers.
//
// The rule: each channel keeps an exponentially weighted success rate and
// time to connect over its recent attempts (weight Alpha per attempt, so
// about the last 1/Alpha attempts count). A channel is demoted — moved behind
// every channel that is not — when it has at least MinSamples attempts and
// its success rate is more than DemoteGap below the best of the officer's
// channels, or its time to connect is more than SlowFactor times the
// fastest's. Demoted channels keep their relative order, as do the others:
// the officer's order is only ever changed to put a failing channel later,
// never to put one he did not list. Attempts that were skipped (breaker open)
// do not count; a breaker already keeps a dead provider out.
//
// GOV.UK Notify does the like for SMS providers: a provider whose share of
// slow deliveries passes a threshold is moved down, and drifts back as it
// recovers.
type Ranker struct {
	Alpha      float64 // weight of the newest attempt (0.2)
	MinSamples int     // attempts before a channel can be demoted (5)
	DemoteGap  float64 // success-rate gap to the best that demotes (0.3)
	SlowFactor float64 // time-to-connect ratio to the fastest that demotes (3)

	mu    sync.Mutex
	stats map[gateway.Channel]*channelStats
}

type channelStats struct {
	n       int
	success float64 // EWMA of 1 for connected, 0 otherwise
	connect float64 // EWMA of seconds to connect, over connected attempts
}

// NewRanker returns a ranker with the default rule.
func NewRanker() *Ranker {
	return &Ranker{Alpha: 0.2, MinSamples: 5, DemoteGap: 0.3, SlowFactor: 3, stats: map[gateway.Channel]*channelStats{}}
}

// Record counts an attempt's result.
func (k *Ranker) Record(ch gateway.Channel, result gateway.AttemptResult, d time.Duration) {
	switch result {
	case gateway.ResultSkipped, gateway.ResultCancelled, gateway.ResultPending:
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.stats[ch]
	if s == nil {
		s = &channelStats{success: 1}
		k.stats[ch] = s
	}
	s.n++
	ok := 0.0
	if result == gateway.ResultConnected {
		ok = 1
		sec := d.Seconds()
		if s.connect == 0 {
			s.connect = sec
		} else {
			s.connect += k.Alpha * (sec - s.connect)
		}
	}
	s.success += k.Alpha * (ok - s.success)
}

// Order returns chans with demoted channels moved behind the others, each
// group in its given order.
func (k *Ranker) Order(chans []gateway.Channel) []gateway.Channel {
	k.mu.Lock()
	defer k.mu.Unlock()
	best, fastest := 0.0, 0.0
	for _, c := range chans {
		s := k.stats[c]
		if s == nil || s.n < k.MinSamples {
			best = max(best, 1)
			continue
		}
		best = max(best, s.success)
		if s.connect > 0 && (fastest == 0 || s.connect < fastest) {
			fastest = s.connect
		}
	}
	demoted := func(c gateway.Channel) bool {
		s := k.stats[c]
		if s == nil || s.n < k.MinSamples {
			return false
		}
		if best-s.success > k.DemoteGap {
			return true
		}
		return fastest > 0 && s.connect > k.SlowFactor*fastest
	}
	out := append([]gateway.Channel(nil), chans...)
	sort.SliceStable(out, func(i, j int) bool { return !demoted(out[i]) && demoted(out[j]) })
	return out
}

// Stats returns each channel's success rate and mean seconds to connect, for
// metrics and the console.
func (k *Ranker) Stats() map[gateway.Channel][2]float64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[gateway.Channel][2]float64{}
	for c, s := range k.stats {
		out[c] = [2]float64{s.success, s.connect}
	}
	return out
}

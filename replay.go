package gateway

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ReplayStore remembers the keys of webhook deliveries for a while, so that
// a delivery seen before (a provider sending it again, or an attacker
// replaying a signed request) is recognised on every instance that shares
// the store. A key is only remembered for a delivery whose signature has
// been verified: a forged request must not use up a key.
type ReplayStore interface {
	// Remember records key until ttl from now (the store's clock) and
	// reports whether it is the first time the key is seen within its ttl:
	// true for a first delivery, false for a replay. Of concurrent callers
	// with one key, on any instances, exactly one is first. A key whose ttl
	// has passed is first again. EUNAVAILABLE when the store cannot write.
	Remember(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
	// Forget removes key, so that its next delivery is a first one again:
	// for a delivery that could not be acted on, which the provider will
	// send again. Forgetting an unknown key is not an error.
	Forget(ctx context.Context, key string) error
}

// ErrReplay is what a Reporter made by ReportOnce returns for a delivery
// seen before: acknowledge it (the provider expects a 2xx), act on nothing.
var ErrReplay = errors.New("a delivery seen before")

// ReportOnce returns a Reporter that hands each delivery's report to to
// once. keys name the delivery (made by the webhook handler from what the
// provider signed, after the signature is verified); each is remembered in
// replays for ttl, and a delivery with a key seen before is a replay: its
// report is not passed on and ErrReplay is returned. When to fails, the
// keys are forgotten again, so that the provider's next delivery is
// reported (a failed report changed nothing). When replays cannot remember
// a key, its error is returned and nothing is reported: the provider
// delivers it again later. With nil replays or no key, to is returned as it
// is.
func ReportOnce(to Reporter, replays ReplayStore, ttl time.Duration, keys ...string) Reporter {
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "" })
	if to == nil || replays == nil || len(keys) == 0 {
		return to
	}
	return &onceReporter{to: to, replays: replays, keys: keys, ttl: ttl}
}

// onceReporter is ReportOnce's Reporter for one delivery.
type onceReporter struct {
	to      Reporter
	replays ReplayStore
	keys    []string
	ttl     time.Duration
}

// Report passes rep on unless one of the delivery's keys was seen before.
func (o *onceReporter) Report(ctx context.Context, rep Report) error {
	const op = "gateway.ReportOnce"
	var firsts []string // the keys this delivery is the first with
	replay := false
	for _, k := range o.keys {
		first, err := o.replays.Remember(ctx, k, o.ttl)
		if err != nil {
			return o.forget(ctx, E(op, ErrorCode(err), err), firsts)
		}
		if first {
			firsts = append(firsts, k)
		}
		replay = replay || !first
	}
	if replay {
		return ErrReplay
	}
	if err := o.to.Report(ctx, rep); err != nil {
		return o.forget(ctx, err, firsts)
	}
	return nil
}

// forget forgets keys after err, which it returns with any error of
// forgetting.
func (o *onceReporter) forget(ctx context.Context, err error, keys []string) error {
	for _, k := range keys {
		if ferr := o.replays.Forget(context.WithoutCancel(ctx), k); ferr != nil {
			err = errors.Join(err, ferr)
		}
	}
	return err
}

// Interface guards
var _ Reporter = (*onceReporter)(nil)

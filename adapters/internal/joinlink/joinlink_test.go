package joinlink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/internal/adaptertest"
	"github.com/safeconnection/gateway/adapters/internal/joinlink"
)

// sender is a JoinSender that records what it was given and fails with err.
type sender struct {
	err  error
	legs []gateway.Leg
	urls []string
}

func (s *sender) SendJoin(_ context.Context, leg gateway.Leg, joinURL string) error {
	s.legs, s.urls = append(s.legs, leg), append(s.urls, joinURL)
	return s.err
}

// deleter is a Hanger that records the meetings it deletes and whether its
// context was live, and fails with err.
type deleter struct {
	err     error
	deleted []gateway.Placement
	live    []bool
	within  []time.Duration
}

func (d *deleter) HangUp(ctx context.Context, _ gateway.Leg, p gateway.Placement) error {
	d.deleted = append(d.deleted, p)
	d.live = append(d.live, ctx.Err() == nil)
	dl, _ := ctx.Deadline()
	d.within = append(d.within, time.Until(dl))
	return d.err
}

func TestSend(t *testing.T) {
	offline := gateway.Errorf(gateway.EUNAVAILABLE, "agent offline")
	leg := gateway.Leg{AttemptID: "a_1", Device: gateway.Device{ID: "d_1"}}
	placed := gateway.Placement{ProviderRef: "m_1", JoinURL: "https://example.com/j/1"}
	tests := []struct {
		name        string
		noSender    bool
		sendErr     error
		del         *deleter // nil: no Delete
		wantErr     bool
		wantDeleted int
		wantWarns   int
	}{
		{name: "sent", del: &deleter{}},
		{name: "no sender: nobody to tell", noSender: true, del: &deleter{}},
		{name: "not sent: meeting deleted", sendErr: offline, del: &deleter{}, wantErr: true, wantDeleted: 1, wantWarns: 1},
		{name: "not sent, deletion fails: still not placed", sendErr: offline, del: &deleter{err: errors.New("gone away")}, wantErr: true, wantDeleted: 1, wantWarns: 2},
		{name: "not sent, nothing to delete", sendErr: errors.New("plain"), wantErr: true, wantWarns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, hook := test.NewNullLogger()
			m := joinlink.Meeting{Provider: "zoom", Placement: placed, URL: "https://example.com/s/1"}
			if tt.del != nil {
				m.Delete = tt.del
			}
			s := &sender{err: tt.sendErr}
			var js gateway.JoinSender = s
			if tt.noSender {
				js = nil
			}
			// The caller's context has ended by the time the send fails:
			// the deletion runs all the same.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := m.Send(ctx, js, leg, log)
			if !tt.noSender && (len(s.urls) != 1 || s.urls[0] != m.URL || s.legs[0].AttemptID != leg.AttemptID) {
				t.Errorf("sender got %v for %v, want %s once for the leg", s.urls, s.legs, m.URL)
			}
			if tt.noSender && len(s.urls) != 0 {
				t.Errorf("sender used: %v", s.urls)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Send = %v, want nil", err)
				}
			} else {
				ce := adaptertest.CallError(t, err)
				if ce.Fate != gateway.NotPlaced || ce.Provider != "zoom" || gateway.ErrorCode(err) != gateway.EUNAVAILABLE {
					t.Errorf("Send = %v: fate %v, provider %q, code %s; want not_placed, zoom, unavailable", err, ce.Fate, ce.Provider, gateway.ErrorCode(err))
				}
				if !errors.Is(err, tt.sendErr) {
					t.Errorf("Send = %v, does not wrap the sender's error", err)
				}
			}
			if tt.del != nil {
				if len(tt.del.deleted) != tt.wantDeleted {
					t.Fatalf("deleted %v, want %d deletion", tt.del.deleted, tt.wantDeleted)
				}
				if tt.wantDeleted > 0 {
					if tt.del.deleted[0] != placed || !tt.del.live[0] {
						t.Errorf("deleted %+v (live context %v), want %+v under a live context", tt.del.deleted[0], tt.del.live[0], placed)
					}
					if w := tt.del.within[0]; w <= 0 || w > joinlink.DeleteTimeout {
						t.Errorf("deletion bounded by %v, want within %v", w, joinlink.DeleteTimeout)
					}
				}
			}
			warns := 0
			for _, e := range hook.AllEntries() {
				if e.Level == logrus.WarnLevel {
					warns++
				}
			}
			if warns != tt.wantWarns {
				t.Errorf("%d warnings logged, want %d", warns, tt.wantWarns)
			}
		})
	}
}

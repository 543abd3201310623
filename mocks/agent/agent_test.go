package agent_test

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/mocks/agent"
)

// rig is a gateway API with a fake router that records reports, one
// device, and its simulated agent.
type rig struct {
	env    *httpapitest.Env
	device gateway.Device
	agent  *agent.Agent

	mu      sync.Mutex
	reports []gateway.Report
}

func newRig(t *testing.T, script func(gateway.Order) agent.Behaviour) *rig {
	t.Helper()
	r := &rig{env: httpapitest.New(t)}
	r.env.Router.ReportFn = func(_ context.Context, rep gateway.Report) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.reports = append(r.reports, rep)
		return nil
	}
	var secret string
	r.device, secret = r.env.Device(t, "westminster")
	a := agent.New(r.env.URL, secret)
	logger := logrus.New()
	logger.Out = io.Discard
	a.Logger = logger
	a.HeartbeatEvery = 50 * time.Millisecond
	a.PollWait = 2 * time.Second
	a.RetryEvery = 20 * time.Millisecond
	a.Battery = 64
	a.Apps = []gateway.Channel{gateway.Channel("facetime"), gateway.Channel("whatsapp")}
	if script != nil {
		a.Script = script
	}
	r.agent = a
	return r
}

// run starts the agent and stops it when the test ends, failing the test if
// Run returns an error.
func (r *rig) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.agent.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// order puts a pending order for the rig's device.
func (r *rig) order(t *testing.T, kind gateway.OrderKind, verification, attempt string) gateway.Order {
	t.Helper()
	o := gateway.Order{
		ID:             gateway.NewID("o_"),
		DeviceID:       r.device.ID,
		VerificationID: verification,
		AttemptID:      attempt,
		Kind:           kind,
		Channel:        gateway.Channel("facetime"),
		Handle:         "pc1234@example.org",
		Reference:      "K7QX-M4TR",
		ExpiresAt:      time.Now().Add(time.Minute),
	}
	if kind == gateway.OrderJoin {
		o.Channel, o.Handle, o.JoinURL = gateway.Channel("zoom"), "", "https://zoom.example/j/1"
	}
	if err := r.env.Store.PutOrder(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

// statuses returns the statuses the router got for the order.
func (r *rig) statuses(orderID string) []gateway.ReportStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []gateway.ReportStatus
	for _, rep := range r.reports {
		if rep.ProviderRef == orderID {
			out = append(out, rep.Status)
		}
	}
	return out
}

// waitFor waits until the router has the statuses for the order, and
// fails if it gets others.
func (r *rig) waitFor(t *testing.T, orderID string, want ...gateway.ReportStatus) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := r.statuses(orderID)
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("reports on %s = %v, want %v", orderID, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stays fails if the order's reports change from want within d.
func (r *rig) stays(t *testing.T, orderID string, d time.Duration, want ...gateway.ReportStatus) {
	t.Helper()
	time.Sleep(d)
	if got := r.statuses(orderID); !slices.Equal(got, want) {
		t.Fatalf("reports on %s = %v, want still %v", orderID, got, want)
	}
}

func TestScripts(t *testing.T) {
	const (
		dialling = gateway.ReportDialling
		ringing  = gateway.ReportRinging
		answered = gateway.ReportAnswered
		rejected = gateway.ReportRejected
		joined   = gateway.ReportJoined
	)
	tests := []struct {
		name  string
		b     agent.Behaviour
		kind  gateway.OrderKind
		want  []gateway.ReportStatus
		after time.Duration // how long the reports must then stay as they are
	}{
		{"answer at once", agent.Behaviour{}, gateway.OrderDial, []gateway.ReportStatus{dialling, ringing, answered}, 100 * time.Millisecond},
		{"answer after a delay", agent.Behaviour{AnswerAfter: 150 * time.Millisecond}, gateway.OrderDial, []gateway.ReportStatus{dialling, ringing, answered}, 0},
		{"reject", agent.Behaviour{Reject: true}, gateway.OrderDial, []gateway.ReportStatus{dialling, ringing, rejected}, 100 * time.Millisecond},
		{"never answer", agent.Behaviour{NeverAnswer: true}, gateway.OrderDial, []gateway.ReportStatus{dialling, ringing}, 300 * time.Millisecond},
		{"silent", agent.Behaviour{Silent: true}, gateway.OrderDial, nil, 300 * time.Millisecond},
		{"join", agent.Behaviour{AnswerAfter: 50 * time.Millisecond}, gateway.OrderJoin, []gateway.ReportStatus{joined, answered}, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(gateway.Order) agent.Behaviour { return tt.b })
			r.run(t)
			start := time.Now()
			o := r.order(t, tt.kind, "v_1", "a_1")
			r.waitFor(t, o.ID, tt.want...)
			if el := time.Since(start); el < tt.b.AnswerAfter {
				t.Errorf("answered after %v, want at least %v", el, tt.b.AnswerAfter)
			}
			r.stays(t, o.ID, tt.after, tt.want...)
			if got := r.agent.Orders(); len(got) != 1 || got[0].ID != o.ID || got[0].Kind != tt.kind {
				t.Errorf("Orders() = %+v, want the one order", got)
			}
			r.mu.Lock()
			for _, rep := range r.reports {
				if rep.AttemptID != "a_1" || rep.Party != "device" || rep.Channel != o.Channel {
					t.Errorf("report %+v does not name the order's attempt and channel", rep)
				}
			}
			r.mu.Unlock()
		})
	}
}

func TestNotPlacedCountsPerVerification(t *testing.T) {
	r := newRig(t, func(gateway.Order) agent.Behaviour { return agent.Behaviour{NotPlaced: 2} })
	r.run(t)
	first := r.order(t, gateway.OrderDial, "v_1", "a_1")
	r.waitFor(t, first.ID, gateway.ReportFailed)
	second := r.order(t, gateway.OrderDial, "v_1", "a_2")
	r.waitFor(t, second.ID, gateway.ReportFailed)
	third := r.order(t, gateway.OrderDial, "v_1", "a_3")
	r.waitFor(t, third.ID, gateway.ReportDialling, gateway.ReportRinging, gateway.ReportAnswered)
	other := r.order(t, gateway.OrderDial, "v_2", "a_4")
	r.waitFor(t, other.ID, gateway.ReportFailed)

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range r.reports {
		if rep.Status == gateway.ReportFailed && rep.Fate != gateway.NotPlaced {
			t.Errorf("failed report with fate %v, want not_placed", rep.Fate)
		}
	}
}

func TestHangUpEndsTheEarlierOrder(t *testing.T) {
	tests := []struct {
		name  string
		b     agent.Behaviour
		kind  gateway.OrderKind
		first []gateway.ReportStatus
	}{
		{"answered call", agent.Behaviour{}, gateway.OrderDial, []gateway.ReportStatus{gateway.ReportDialling, gateway.ReportRinging, gateway.ReportAnswered}},
		{"ringing call", agent.Behaviour{NeverAnswer: true}, gateway.OrderDial, []gateway.ReportStatus{gateway.ReportDialling, gateway.ReportRinging}},
		{"hung up before the answer", agent.Behaviour{AnswerAfter: time.Hour}, gateway.OrderDial, []gateway.ReportStatus{gateway.ReportDialling, gateway.ReportRinging}},
		{"meeting", agent.Behaviour{NeverAnswer: true}, gateway.OrderJoin, []gateway.ReportStatus{gateway.ReportJoined}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(gateway.Order) agent.Behaviour { return tt.b })
			r.run(t)
			o := r.order(t, tt.kind, "v_1", "a_1")
			r.waitFor(t, o.ID, tt.first...)
			h := r.order(t, gateway.OrderHangUp, "v_1", "a_1")
			r.waitFor(t, o.ID, append(slices.Clone(tt.first), gateway.ReportEnded)...)
			r.stays(t, o.ID, 100*time.Millisecond, append(slices.Clone(tt.first), gateway.ReportEnded)...)
			if got := r.statuses(h.ID); len(got) != 0 {
				t.Errorf("reports on the hang-up order: %v", got)
			}
		})
	}
}

func TestHangUpWithoutTheEarlierOrder(t *testing.T) {
	r := newRig(t, nil)
	r.run(t)
	h := r.order(t, gateway.OrderHangUp, "v_1", "a_unknown")
	r.waitFor(t, h.ID, gateway.ReportEnded)
}

func TestHeartbeats(t *testing.T) {
	r := newRig(t, nil)
	r.run(t)
	ctx := context.Background()
	seen := func() gateway.Device {
		d, err := r.env.Store.Device(ctx, r.device.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	waitSeen := func(after time.Time) gateway.Device {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if d := seen(); d.LastSeen.After(after) {
				return d
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no heartbeat")
		return gateway.Device{}
	}
	d := waitSeen(time.Time{})
	if d.Battery != 64 || !slices.Equal(d.Apps, []gateway.Channel{gateway.Channel("facetime"), gateway.Channel("whatsapp")}) {
		t.Errorf("heartbeat stored battery %d apps %v", d.Battery, d.Apps)
	}

	// Heartbeats off: the device goes quiet but still takes orders.
	r.agent.SetHeartbeat(false)
	time.Sleep(300 * time.Millisecond) // let a heartbeat in flight land
	last := seen().LastSeen
	o := r.order(t, gateway.OrderDial, "v_1", "a_1")
	r.waitFor(t, o.ID, gateway.ReportDialling, gateway.ReportRinging, gateway.ReportAnswered)
	time.Sleep(200 * time.Millisecond)
	if got := seen().LastSeen; !got.Equal(last) {
		t.Errorf("heartbeat at %v after heartbeats were turned off at %v", got, last)
	}
	// And back on.
	r.agent.SetHeartbeat(true)
	waitSeen(last)
}

func TestSilentStopsEverything(t *testing.T) {
	r := newRig(t, nil)
	r.run(t)
	ctx := context.Background()
	time.Sleep(100 * time.Millisecond)
	r.agent.SetSilent(true)
	time.Sleep(300 * time.Millisecond) // let a heartbeat in flight land
	d, _ := r.env.Store.Device(ctx, r.device.ID)
	last := d.LastSeen

	o := r.order(t, gateway.OrderDial, "v_1", "a_1")
	time.Sleep(300 * time.Millisecond)
	if stored, _ := r.env.Store.Order(ctx, o.ID); stored.Status != gateway.OrderPending {
		t.Errorf("a silent agent took an order: status %s", stored.Status)
	}
	if d, _ := r.env.Store.Device(ctx, r.device.ID); !d.LastSeen.Equal(last) {
		t.Error("a silent agent sent a heartbeat")
	}
	if len(r.agent.Orders()) != 0 {
		t.Errorf("a silent agent received %v", r.agent.Orders())
	}

	r.agent.SetSilent(false)
	r.waitFor(t, o.ID, gateway.ReportDialling, gateway.ReportRinging, gateway.ReportAnswered)
	// The agent records a report once the gateway has answered it.
	deadline := time.Now().Add(5 * time.Second)
	got := r.agent.Reports()
	for len(got) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = r.agent.Reports()
	}
	if len(got) != 3 || got[2].Status != gateway.ReportAnswered || got[2].OrderID != o.ID {
		t.Errorf("Reports() = %+v", got)
	}
}

func TestRunStopsWhenTheCredentialIsRevoked(t *testing.T) {
	r := newRig(t, nil)
	toks, err := r.env.Store.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Subject == r.device.ID {
			r.env.Store.RevokeToken(context.Background(), tok.ID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = r.agent.Run(ctx)
	if gateway.ErrorCode(err) != gateway.EUNAUTHORIZED {
		t.Errorf("Run() = %v, want unauthorized", err)
	}
	if ctx.Err() != nil {
		t.Error("Run waited for its context instead of stopping")
	}
}

// Package agent is a simulated device agent: the companion app of an
// operations-room handset, as a client of the device-agent protocol
// (httpapi/AGENT_PROTOCOL.md). It sends heartbeats, long-polls the gateway
// for orders and acts on them as its Script says: answer after a delay,
// reject, ring for ever, fail before placing, or say nothing. Tests and
// `gateway -demo` run it in-process.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
)

// Behaviour is what the agent does with one dial or join order.
type Behaviour struct {
	// AnswerAfter is how long the call rings (or the meeting waits) before
	// the agent reports it answered.
	AnswerAfter time.Duration
	// Reject: report the call rejected (declined or busy) after ringing.
	Reject bool
	// NeverAnswer: report ringing (or joined), then nothing more.
	NeverAnswer bool
	// NotPlaced: report failed with fate not_placed for the first NotPlaced
	// orders of the order's verification, then behave as the rest says.
	NotPlaced int
	// Silent: take the order and report nothing at all.
	Silent bool
}

// Defaults of the Agent's fields.
const (
	DefaultHeartbeatEvery = 5 * time.Second
	DefaultPollWait       = 25 * time.Second
	DefaultRetryEvery     = 250 * time.Millisecond
	// requestTimeout bounds a heartbeat or a report.
	requestTimeout = 10 * time.Second
)

// Report is a report the agent sent.
type Report struct {
	OrderID string
	Status  gateway.ReportStatus
	Fate    string // not_placed or placed_failed, with failed
	Detail  string
}

// Agent is a simulated device agent. Set its fields before Run; the knobs
// SetHeartbeat, SetSilent and SetHandset may be turned while it runs.
type Agent struct {
	// HTTPClient makes every request. Default: a client without a timeout
	// (each request has its own deadline).
	HTTPClient *http.Client
	// Logger takes what the agent does. Default: the logrus standard logger.
	Logger logrus.FieldLogger
	// Apps are the apps the heartbeat says are signed in. Default: every
	// video channel.
	Apps []gateway.Channel
	// Battery is the percentage the heartbeat reports. Default: 100.
	Battery int
	// Charging is whether the heartbeat says the handset is on a charger.
	Charging bool
	// HeartbeatEvery is the interval of heartbeats. Default: 5s.
	HeartbeatEvery time.Duration
	// PollWait is the wait asked for in each long poll. Default: 25s.
	PollWait time.Duration
	// RetryEvery is the pause after a failed poll, and between the tries
	// of a report. Default: 250ms.
	RetryEvery time.Duration
	// Script decides what to do with each dial or join order. Default:
	// answer at once.
	Script func(o gateway.Order) Behaviour
	// Now is the clock by which orders expire. Default: time.Now.
	Now func() time.Time

	baseURL    string
	credential string

	mu           sync.Mutex
	heartbeatOff bool
	silent       bool
	changed      chan struct{} // closed and replaced when a knob turns
	orders       []gateway.Order
	reports      []Report
	notPlaced    map[string]int                // verification ID -> not_placed reports so far
	ringing      map[string]context.CancelFunc // attempt ID -> ends the call's wait
}

// New returns an agent for the gateway at baseURL that authenticates with
// the device's credential, with every field at its default.
func New(baseURL, credential string) *Agent {
	return &Agent{
		HTTPClient:     &http.Client{},
		Logger:         logrus.StandardLogger(),
		Apps:           []gateway.Channel{gateway.Channel("facetime"), gateway.Channel("whatsapp"), gateway.Channel("zoom"), gateway.Channel("meet"), gateway.Channel("teams"), gateway.Channel("webrtc")},
		Battery:        100,
		HeartbeatEvery: DefaultHeartbeatEvery,
		PollWait:       DefaultPollWait,
		RetryEvery:     DefaultRetryEvery,
		Script:         func(gateway.Order) Behaviour { return Behaviour{} },
		Now:            time.Now,
		baseURL:        strings.TrimRight(baseURL, "/"),
		credential:     credential,
		changed:        make(chan struct{}),
		notPlaced:      make(map[string]int),
		ringing:        make(map[string]context.CancelFunc),
	}
}

// SetHeartbeat stops (false) or restarts (true) the heartbeats; the agent
// goes on polling and acting on orders.
func (a *Agent) SetHeartbeat(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.heartbeatOff = !on
	a.notifyLocked()
}

// SetSilent stops (true) or restarts (false) everything: no heartbeats, no
// polls, no reports, as a handset that has gone dark. A poll in flight is
// abandoned.
func (a *Agent) SetSilent(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.silent = on
	a.notifyLocked()
}

// SetHandset changes what the heartbeats report (battery, charging, apps
// signed in) and sends one at once.
func (a *Agent) SetHandset(battery int, charging bool, apps []gateway.Channel) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Battery, a.Charging, a.Apps = battery, charging, slices.Clone(apps)
	a.notifyLocked()
}

func (a *Agent) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// state returns the knobs and the channel closed at their next turn.
func (a *Agent) state() (heartbeatOff, silent bool, changed <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.heartbeatOff, a.silent, a.changed
}

// Orders returns the orders received so far, oldest first.
func (a *Agent) Orders() []gateway.Order {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.orders)
}

// Reports returns the reports the gateway accepted so far, oldest first.
func (a *Agent) Reports() []Report {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reports)
}

func (a *Agent) log() logrus.FieldLogger {
	if a.Logger == nil {
		return logrus.StandardLogger()
	}
	return a.Logger
}

func (a *Agent) client() *http.Client {
	if a.HTTPClient == nil {
		return http.DefaultClient
	}
	return a.HTTPClient
}

func (a *Agent) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Run heartbeats, polls for orders and acts on them until ctx ends; it
// returns nil then, once every order in hand has been dealt with. It
// returns an EUNAUTHORIZED or EFORBIDDEN error at once when the gateway
// refuses the credential.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: deferred calls run last first
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { a.heartbeats(ctx) })
	for ctx.Err() == nil {
		_, silent, changed := a.state()
		if silent {
			select {
			case <-ctx.Done():
			case <-changed:
			}
			continue
		}
		orders, err := a.poll(ctx, changed)
		switch code := gateway.ErrorCode(err); {
		case code == gateway.EUNAUTHORIZED || code == gateway.EFORBIDDEN:
			a.log().WithError(err).Error("the gateway refused the agent's credential")
			return err
		case err != nil:
			if ctx.Err() == nil {
				a.log().WithError(err).Debug("poll failed")
			}
			select {
			case <-ctx.Done():
			case <-time.After(orDefault(a.RetryEvery, DefaultRetryEvery)):
			}
			continue
		}
		for _, o := range orders {
			a.mu.Lock()
			a.orders = append(a.orders, o)
			a.mu.Unlock()
			wg.Go(func() { a.handle(ctx, o) })
		}
	}
	return nil
}

// heartbeats sends a heartbeat now and every HeartbeatEvery, and at once
// when heartbeats are turned back on.
func (a *Agent) heartbeats(ctx context.Context) {
	tick := time.NewTicker(orDefault(a.HeartbeatEvery, DefaultHeartbeatEvery))
	defer tick.Stop()
	for {
		off, silent, changed := a.state()
		if !off && !silent {
			if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
				a.log().WithError(err).Warn("heartbeat failed")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
		}
	}
}

func (a *Agent) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	a.mu.Lock()
	body := struct {
		Battery  int               `json:"battery"`
		Charging bool              `json:"charging"`
		Apps     []gateway.Channel `json:"apps"`
	}{a.Battery, a.Charging, a.Apps}
	a.mu.Unlock()
	if body.Apps == nil {
		body.Apps = []gateway.Channel{}
	}
	return a.do(ctx, "POST", "/v1/agent/heartbeat", body, nil)
}

// poll asks for orders once, abandoning the request if the agent is
// silenced meanwhile.
func (a *Agent) poll(ctx context.Context, changed <-chan struct{}) ([]gateway.Order, error) {
	wait := orDefault(a.PollWait, DefaultPollWait)
	ctx, cancel := context.WithTimeout(ctx, wait+requestTimeout)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-changed:
				_, silent, next := a.state()
				if silent {
					cancel()
					return
				}
				changed = next
			}
		}
	}()
	var reply struct {
		Orders []gateway.Order `json:"orders"`
	}
	q := url.Values{"wait": {fmt.Sprint(int(wait / time.Second))}}
	if err := a.do(ctx, "GET", "/v1/agent/orders?"+q.Encode(), nil, &reply); err != nil {
		return nil, err
	}
	return reply.Orders, nil
}

// handle acts on one order.
func (a *Agent) handle(ctx context.Context, o gateway.Order) {
	log := a.log().WithFields(logrus.Fields{"order": o.ID, "kind": o.Kind, "channel": o.Channel, "verification": o.VerificationID})
	if !o.ExpiresAt.IsZero() && a.now().After(o.ExpiresAt) {
		log.Info("order expired before it could be acted on")
		return
	}
	switch o.Kind {
	case gateway.OrderDial, gateway.OrderJoin:
		a.call(ctx, o)
	case gateway.OrderHangUp:
		a.hangUp(ctx, o)
	default:
		log.Warn("unknown order kind")
	}
}

// call plays a dial or join order as the Script says.
func (a *Agent) call(ctx context.Context, o gateway.Order) {
	script := a.Script
	if script == nil {
		script = func(gateway.Order) Behaviour { return Behaviour{} }
	}
	b := script(o)
	if b.Silent {
		return
	}
	a.mu.Lock()
	notPlaced := a.notPlaced[o.VerificationID] < b.NotPlaced
	if notPlaced {
		a.notPlaced[o.VerificationID]++
	}
	a.mu.Unlock()
	if notPlaced {
		a.report(ctx, o, gateway.ReportFailed, gateway.NotPlaced.String(), "simulated: app could not place the call")
		return
	}

	cctx, hangUp := context.WithCancel(ctx)
	defer hangUp()
	a.mu.Lock()
	a.ringing[o.AttemptID] = hangUp
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.ringing, o.AttemptID)
		a.mu.Unlock()
	}()

	if o.Kind == gateway.OrderJoin {
		a.report(ctx, o, gateway.ReportJoined, "", "")
	} else {
		a.report(ctx, o, gateway.ReportDialling, "", "")
		a.report(ctx, o, gateway.ReportRinging, "", "")
	}
	switch {
	case b.Reject:
		a.report(ctx, o, gateway.ReportRejected, "", "simulated: declined")
		return
	case b.NeverAnswer:
		<-cctx.Done()
		return
	}
	t := time.NewTimer(b.AnswerAfter)
	defer t.Stop()
	select {
	case <-cctx.Done():
		return // hung up (or stopped) before it was answered
	case <-t.C:
	}
	a.report(ctx, o, gateway.ReportAnswered, "", "")
}

// hangUp ends the call of the earlier order of the same attempt and
// reports it ended on that order, or on the hang-up order itself when
// there is none.
func (a *Agent) hangUp(ctx context.Context, o gateway.Order) {
	target := o
	a.mu.Lock()
	for i := len(a.orders) - 1; i >= 0; i-- {
		e := a.orders[i]
		if e.AttemptID == o.AttemptID && (e.Kind == gateway.OrderDial || e.Kind == gateway.OrderJoin) {
			target = e
			break
		}
	}
	if end, ok := a.ringing[o.AttemptID]; ok {
		end()
	}
	a.mu.Unlock()
	a.report(ctx, target, gateway.ReportEnded, "", "")
}

// report sends one report on the order, retrying network faults and 5xx
// until the order expires or three tries have failed. Nothing is sent while
// the agent is silent.
func (a *Agent) report(ctx context.Context, o gateway.Order, status gateway.ReportStatus, fate, detail string) {
	log := a.log().WithFields(logrus.Fields{"order": o.ID, "status": status})
	body := struct {
		Status gateway.ReportStatus `json:"status"`
		Fate   string               `json:"fate,omitempty"`
		Detail string               `json:"detail,omitempty"`
	}{status, fate, detail}
	for try := 1; ; try++ {
		if _, silent, _ := a.state(); silent {
			log.Debug("silent: report not sent")
			return
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := a.do(rctx, "POST", "/v1/agent/orders/"+url.PathEscape(o.ID)+"/report", body, nil)
		cancel()
		if err == nil {
			a.mu.Lock()
			a.reports = append(a.reports, Report{OrderID: o.ID, Status: status, Fate: fate, Detail: detail})
			a.mu.Unlock()
			log.Debug("reported")
			return
		}
		code := gateway.ErrorCode(err)
		retry := code == gateway.EINTERNAL || code == gateway.EUNAVAILABLE || code == gateway.ETIMEOUT
		if !retry || try == 3 || ctx.Err() != nil || (!o.ExpiresAt.IsZero() && a.now().After(o.ExpiresAt)) {
			if ctx.Err() == nil {
				log.WithError(err).Warn("report not accepted")
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(orDefault(a.RetryEvery, DefaultRetryEvery)):
		}
	}
}

// do sends a JSON request and decodes a JSON answer into out (when not
// nil). A JSON error answer becomes a *gateway.Error with its code; a
// network fault is EUNAVAILABLE.
func (a *Agent) do(ctx context.Context, method, path string, in, out any) error {
	const op = "agent.do"
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return gateway.E(op, gateway.EINTERNAL, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.baseURL+path, body)
	if err != nil {
		return gateway.E(op, gateway.EINTERNAL, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.credential)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return gateway.E(op, gateway.EUNAVAILABLE, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return gateway.E(op, gateway.EUNAVAILABLE, err)
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			eb.Error.Code, eb.Error.Message = gateway.EUNAVAILABLE, resp.Status
		}
		return &gateway.Error{Op: op, Code: eb.Error.Code, Message: fmt.Sprintf("%s %s: %s", method, strings.SplitN(path, "?", 2)[0], eb.Error.Message)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return gateway.E(op, gateway.EINTERNAL, err)
		}
	}
	return nil
}

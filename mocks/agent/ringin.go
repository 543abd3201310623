package agent

import (
	"context"
	"net/url"
	"time"

	"github.com/safeconnection/gateway"
)

// RingInAnswer is the gateway's answer to a call rung in.
type RingInAnswer struct {
	Verification string        `json:"verification"`
	Reference    string        `json:"reference"`
	Attempt      string        `json:"attempt"`
	State        gateway.State `json:"state"`
}

// RingIn reports a call from the public ringing on the handset in
// channel's app (POST /v1/agent/calls), from caller ("" withheld), with
// the agent's callID, and returns the gateway's answer: an ECONFLICT error
// when the handset is busy or out of service.
func (a *Agent) RingIn(ctx context.Context, channel gateway.Channel, caller, callID string) (RingInAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	body := struct {
		Channel gateway.Channel `json:"channel"`
		Caller  string          `json:"caller,omitempty"`
		CallID  string          `json:"call_id"`
	}{channel, caller, callID}
	var out RingInAnswer
	err := a.do(ctx, "POST", "/v1/agent/calls", body, &out)
	return out, err
}

// ReportCall reports status on a call rung in (POST
// /v1/agent/calls/{verification}/report).
func (a *Agent) ReportCall(ctx context.Context, verification string, status gateway.ReportStatus, detail string) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	body := struct {
		Status gateway.ReportStatus `json:"status"`
		Detail string               `json:"detail,omitempty"`
	}{status, detail}
	return a.do(ctx, "POST", "/v1/agent/calls/"+url.PathEscape(verification)+"/report", body, nil)
}

// Ring plays a call from the public on the handset: it rings in, is
// answered after answerAfter and ends talk later, in the background; done
// is closed once the end is reported (or ctx ends). The answer is the ring-in's.
func (a *Agent) Ring(ctx context.Context, channel gateway.Channel, caller, callID string, answerAfter, talk time.Duration) (RingInAnswer, <-chan struct{}, error) {
	ans, err := a.RingIn(ctx, channel, caller, callID)
	if err != nil {
		return ans, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, step := range []struct {
			after  time.Duration
			status gateway.ReportStatus
		}{{answerAfter, gateway.ReportAnswered}, {talk, gateway.ReportEnded}} {
			select {
			case <-ctx.Done():
				return
			case <-time.After(step.after):
			}
			if err := a.ReportCall(context.WithoutCancel(ctx), ans.Verification, step.status, ""); err != nil {
				a.log().WithError(err).WithField("verification", ans.Verification).Warn("report on a call rung in not accepted")
			}
		}
	}()
	return ans, done, nil
}

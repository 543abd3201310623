package httpapi

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/handle"
)

// Limits of a call rung in by a device agent.
const (
	// MaxCallID bounds the agent's ID of a call.
	MaxCallID = 128
	// MaxCaller bounds the caller's identity in the app.
	MaxCaller = 200
)

// ringInBody is the wire form of a device agent's report of a call from
// the public ringing on its handset.
type ringInBody struct {
	Channel string `json:"channel"`
	Caller  string `json:"caller"`
	CallID  string `json:"call_id"`
}

// RingInReply answers a call rung in: its verification, the reference the
// handset shows so that the supervisor can read it to her, and the attempt.
type RingInReply struct {
	Verification string        `json:"verification"`
	Reference    string        `json:"reference"`
	Attempt      string        `json:"attempt"`
	State        gateway.State `json:"state"`
}

// callReportBody is the wire form of a device agent's report on a call it
// rang in.
type callReportBody struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// DecodeRingIn reads a device agent's report of a call ringing on its
// handset, strictly (one JSON object, no unknown or repeated fields, no
// trailing data): a known video channel, the agent's call_id (1 to
// MaxCallID printable characters) and, optionally, the caller's identity
// in the app. The caller is kept only as a keyed hash under key and, when
// it is a phone number, masked to its last three digits (her number hashes
// as it does when she calls a room's published number); an Apple ID or a
// user name is not shown at all. DeviceID is left for the caller. EINVALID
// naming the bad field, never quoting the caller.
func DecodeRingIn(data []byte, channels *gateway.Registry, key []byte) (gateway.HandsetCall, error) {
	var body ringInBody
	if err := unmarshalStrict(data, &body); err != nil {
		return gateway.HandsetCall{}, err
	}
	var call gateway.HandsetCall
	if body.Channel == "" {
		return call, invalid("channel is required")
	}
	ch, err := channels.Parse(body.Channel)
	if err != nil {
		return call, invalid("channel: %s", gateway.ErrorMessage(err))
	}
	if !ch.IsVideo() {
		return call, invalid("channel: a call rung in on a handset is a video app's, not %s", ch)
	}
	if call.CallID, err = checkText("call_id", body.CallID, MaxCallID); err != nil {
		return call, err
	}
	call.Channel = ch
	caller := strings.TrimSpace(body.Caller)
	switch {
	case caller == "":
	case utf8.RuneCountInString(caller) > MaxCaller:
		return call, invalid("caller must be at most %d characters", MaxCaller)
	case !handle.Printable(caller):
		return call, invalid("caller must hold printable characters only")
	default:
		if n, err := handle.E164(caller); err == nil {
			call.Caller, call.CallerHash = gateway.MaskCaller(n), gateway.HashCaller(key, n)
		} else {
			call.CallerHash = gateway.HashCaller(key, strings.ToLower(caller))
		}
	}
	return call, nil
}

// handsets is the service of calls rung in on handsets; EUNAVAILABLE when
// the gateway has none.
func (s *Server) handsets() (gateway.HandsetService, error) {
	if s.Handsets == nil {
		return nil, gateway.Errorf(gateway.EUNAVAILABLE, "this gateway takes no calls rung in on a handset")
	}
	return s.Handsets, nil
}

// POST /v1/agent/calls
func (s *Server) agentRingIn(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	dev, err := deviceOf(tok)
	if err != nil {
		return err
	}
	svc, err := s.handsets()
	if err != nil {
		return err
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	call, err := DecodeRingIn(data, s.Channels, s.CallerKey)
	if err != nil {
		return err
	}
	call.DeviceID = dev
	v, created, err := svc.RingIn(r.Context(), call)
	if err != nil {
		return err
	}
	reply := RingInReply{Verification: v.ID, Reference: v.Reference, State: v.State}
	if len(v.Attempts) > 0 {
		reply.Attempt = v.Attempts[0].ID
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	s.writeJSON(w, r, status, reply)
	return nil
}

// POST /v1/agent/calls/{id}/report
func (s *Server) agentCallReport(w http.ResponseWriter, r *http.Request, tok gateway.Token) error {
	dev, err := deviceOf(tok)
	if err != nil {
		return err
	}
	svc, err := s.handsets()
	if err != nil {
		return err
	}
	var body callReportBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.Status == "" {
		return invalid("status is required")
	}
	status := gateway.ReportStatus(body.Status)
	switch status {
	case gateway.ReportRinging, gateway.ReportAnswered, gateway.ReportEnded,
		gateway.ReportNoAnswer, gateway.ReportRejected, gateway.ReportFailed:
	default:
		return invalid("status must be one of ringing, answered, ended, no_answer, rejected, failed")
	}
	detail, err := checkOptionalText("detail", body.Detail, MaxDetail)
	if err != nil {
		return err
	}
	if _, err := svc.HandsetReport(r.Context(), dev, r.PathValue("id"), status, detail); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handsetAlive renews the claim of a call rung in on the device whose
// heartbeat this is; a failure is logged, never the heartbeat's.
func (s *Server) handsetAlive(r *http.Request, d gateway.Device) {
	if s.Handsets == nil || d.Lease == nil {
		return
	}
	if err := s.Handsets.HandsetAlive(r.Context(), d); err != nil {
		s.logger().WithFields(logrus.Fields{"device": d.ID}).WithError(err).Warn("could not renew the claim of a call rung in")
	}
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
)

// wireHandsets lets device agents report the public's calls that ring
// their handsets directly (POST /v1/agent/calls): the router records them,
// and her identity in the app is hashed with the same key as her PSTN
// calls' number.
func (m *Main) wireHandsets(srv *httpapi.Server) error {
	key, err := callerKey(m.Config)
	if err != nil {
		return err
	}
	srv.Handsets, srv.CallerKey = m.Router, key
	return nil
}

// ringDevicePath: POST /demo/ring-device/{device}?channel=whatsapp makes
// the device's simulated agent ring in a call from the public.
const ringDevicePath = "/demo/ring-device/"

var demoDeviceID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// demoAnswer is how long the demo's handset rings before the supervisor
// picks up a call rung in.
const demoAnswer = 1500 * time.Millisecond

// ringDevices serves POST /demo/ring-device/{device}?channel= (loopback
// only; channel defaults to whatsapp) and passes every other request to
// next: the device's simulated agent reports a call from demoCaller
// ringing in that app, answers it after demoAnswer and reports it ended
// demoTalk later. The answer is the gateway's to the agent (201), or its
// error (409 when the handset is busy).
func (d *demo) ringDevices(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, ringDevicePath) {
			next.ServeHTTP(w, r)
			return
		}
		if !fromLoopback(r) {
			writeFaultError(w, http.StatusForbidden, gateway.EFORBIDDEN, "the demo's calls answer only on loopback")
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeFaultError(w, http.StatusMethodNotAllowed, gateway.EINVALID, "a call is rung in with POST")
			return
		}
		id := strings.TrimPrefix(r.URL.Path, ringDevicePath)
		a, ok := d.agents[id]
		if !demoDeviceID.MatchString(id) || !ok {
			writeFaultError(w, http.StatusNotFound, gateway.ENOTFOUND, "no simulated handset "+fmt.Sprintf("%.64q", id))
			return
		}
		ch := gateway.Channel(r.URL.Query().Get("channel"))
		if ch == "" {
			ch = gateway.Channel("whatsapp")
		}
		if !ch.Valid() {
			writeFaultError(w, http.StatusBadRequest, gateway.EINVALID, "channel must be a channel's name")
			return
		}
		// The calls outlive the request: they end with the demo.
		ans, _, err := a.Ring(d.ctx(), ch, demoCaller, gateway.NewID("call_"), demoAnswer, demoTalk)
		if err != nil {
			status := http.StatusBadGateway
			switch gateway.ErrorCode(err) {
			case gateway.ECONFLICT:
				status = http.StatusConflict
			case gateway.EINVALID:
				status = http.StatusBadRequest
			}
			writeFaultError(w, status, gateway.ErrorCode(err), gateway.ErrorMessage(err))
			return
		}
		writeFaultJSON(w, http.StatusCreated, ans)
	})
}

// ctx is the context of the calls the demo's agents ring in.
func (d *demo) ctx() context.Context {
	if d.actx == nil {
		return context.Background()
	}
	return d.actx
}

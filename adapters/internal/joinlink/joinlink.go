// Package joinlink is what the meeting-style adapters (meet, teams, zoom)
// share once the provider has created a leg's meeting: handing its link to
// the ops-room device, and deleting the meeting when the device cannot be
// given it.
package joinlink

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
)

// DeleteTimeout bounds the deletion of a meeting whose link the device could
// not get, which runs even when the caller's context has ended.
const DeleteTimeout = 5 * time.Second

// Meeting is a meeting just created for a leg, whose link the leg's device
// is to open.
type Meeting struct {
	Provider  string            // the provider's name, in errors
	Placement gateway.Placement // what the provider answered
	URL       string            // the link the device opens
	// Delete deletes the meeting (its adapter's HangUp); nil leaves it,
	// unused and harmless, to expire.
	Delete gateway.Hanger
}

// Send gives the device of leg the link through js (nil: nobody to tell;
// tests only). When the device cannot be told, nobody has the link: Send
// deletes the meeting, within DeleteTimeout even when ctx has ended, and
// returns a *gateway.CallError of m.Provider with Fate NotPlaced (code
// EUNAVAILABLE), for the leg was not placed. A failed deletion is logged on
// log, not returned.
func (m Meeting) Send(ctx context.Context, js gateway.JoinSender, leg gateway.Leg, log logrus.FieldLogger) error {
	if js == nil {
		return nil
	}
	err := js.SendJoin(ctx, leg, m.URL)
	if err == nil {
		return nil
	}
	log.WithError(err).Warn("the device could not be sent the meeting link")
	if m.Delete != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DeleteTimeout)
		defer cancel()
		if derr := m.Delete.HangUp(dctx, leg, m.Placement); derr != nil {
			log.WithError(derr).Warn("could not delete a meeting whose link the device could not get")
		}
	}
	return &gateway.CallError{Fate: gateway.NotPlaced, Provider: m.Provider,
		Err: gateway.E(m.Provider+".Place", gateway.EUNAVAILABLE, errors.Join(errors.New("the device could not be sent the meeting link"), err))}
}

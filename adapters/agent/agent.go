// Package agent is the adapter for the channels no server API can place: a
// FaceTime or WhatsApp video call, and a Meet or Teams app call where no API
// credentials are configured. The gateway puts a dial order for the claimed
// handset; the device agent on it (a companion app speaking the protocol in
// httpapi/AGENT_PROTOCOL.md) takes the order, places the call in the app and
// reports its progress, which reaches the router as gateway.Reports.
//
// The adapter also delivers meeting links to handsets (SendJoin) for the
// meeting-style adapters, and tells a handset to end a call (HangUp).
package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/safeconnection/gateway"
)

// Orders is where dial orders wait for device agents.
type Orders interface {
	// PutOrder stores a new pending order and wakes the device's agent.
	// ECONFLICT if the ID exists.
	PutOrder(ctx context.Context, o gateway.Order) error
}

// Adapter places legs on one channel through device agents.
type Adapter struct {
	// Orders keeps the orders; the store implements it.
	Orders Orders
	// Now is the clock.
	Now func() time.Time
	// HangUpTTL is how long a hang-up order stays valid for the agent.
	HangUpTTL time.Duration

	channel gateway.Channel
}

// New returns an adapter for the channel that hands orders to device agents
// through orders.
func New(ch gateway.Channel, orders Orders) *Adapter {
	return &Adapter{Orders: orders, Now: time.Now, HangUpTTL: time.Minute, channel: ch}
}

// Channel is the channel this adapter serves.
func (a *Adapter) Channel() gateway.Channel { return a.channel }

// Place puts a dial order for the leg's device: call the officer's handle in
// the channel's app. The order expires at the leg's deadline. A store fault
// is NotPlaced: no agent can have seen the order.
func (a *Adapter) Place(ctx context.Context, leg gateway.Leg) (gateway.Placement, error) {
	if leg.Device.ID == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.PlacedFailed, Provider: "agent",
			Err: fmt.Errorf("no device to place a %s call from", a.channel)}
	}
	if leg.OfficerHandle == "" {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.PlacedFailed, Provider: "agent",
			Err: fmt.Errorf("the officer gave no %s handle", a.channel)}
	}
	o := a.order(leg, gateway.OrderDial, leg.Deadline)
	o.Handle = leg.OfficerHandle
	if err := a.Orders.PutOrder(ctx, o); err != nil {
		return gateway.Placement{}, &gateway.CallError{Fate: gateway.NotPlaced, Provider: "agent", Err: err}
	}
	return gateway.Placement{ProviderRef: o.ID}, nil
}

// HangUp tells the device's agent to end the attempt's call.
func (a *Adapter) HangUp(ctx context.Context, leg gateway.Leg, p gateway.Placement) error {
	if leg.Device.ID == "" {
		return nil
	}
	return a.Orders.PutOrder(ctx, a.order(leg, gateway.OrderHangUp, a.Now().Add(a.HangUpTTL)))
}

// SendJoin tells the device's agent to open a meeting link: the
// meeting-style adapters deliver their links to handsets through it.
func (a *Adapter) SendJoin(ctx context.Context, leg gateway.Leg, joinURL string) error {
	o := a.order(leg, gateway.OrderJoin, leg.Deadline)
	o.Channel = leg.Channel
	o.JoinURL = joinURL
	return a.Orders.PutOrder(ctx, o)
}

func (a *Adapter) order(leg gateway.Leg, kind gateway.OrderKind, expires time.Time) gateway.Order {
	return gateway.Order{
		ID:             gateway.NewID("o_"),
		DeviceID:       leg.Device.ID,
		VerificationID: leg.VerificationID,
		AttemptID:      leg.AttemptID,
		Kind:           kind,
		Channel:        a.channel,
		Reference:      leg.Reference,
		Status:         gateway.OrderPending,
		CreatedAt:      a.Now(),
		ExpiresAt:      expires,
	}
}

// Interface guards
var (
	_ gateway.Adapter    = (*Adapter)(nil)
	_ gateway.Hanger     = (*Adapter)(nil)
	_ gateway.JoinSender = (*Adapter)(nil)
)

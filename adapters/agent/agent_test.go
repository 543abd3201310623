package agent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/agent"
)

type orders struct {
	put []gateway.Order
	err error
}

func (o *orders) PutOrder(_ context.Context, ord gateway.Order) error {
	if o.err != nil {
		return o.err
	}
	o.put = append(o.put, ord)
	return nil
}

func TestPlace(t *testing.T) {
	deadline := time.Now().Add(20 * time.Second)
	dev := gateway.Device{ID: "d_1", Handles: map[gateway.Channel]string{agent.FaceTime: "ops1@example.police.uk"}}
	tests := []struct {
		name     string
		leg      gateway.Leg
		storeErr error
		fate     gateway.Fate
	}{
		{name: "dial order put", leg: gateway.Leg{VerificationID: "v_1", AttemptID: "a_1", Reference: "ACDE-FGHJ", Channel: agent.FaceTime, OfficerHandle: "+447700900123", Device: dev, Deadline: deadline}},
		{name: "store down is not placed", leg: gateway.Leg{AttemptID: "a_1", OfficerHandle: "+447700900123", Device: dev, Deadline: deadline}, storeErr: errors.New("disk full"), fate: gateway.NotPlaced},
		{name: "no device", leg: gateway.Leg{AttemptID: "a_1", OfficerHandle: "+447700900123", Deadline: deadline}, fate: gateway.PlacedFailed},
		{name: "no officer handle", leg: gateway.Leg{AttemptID: "a_1", Device: dev, Deadline: deadline}, fate: gateway.PlacedFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &orders{err: tt.storeErr}
			a := agent.New(agent.FaceTime, o)
			p, err := a.Place(context.Background(), tt.leg)
			if tt.fate != 0 {
				if err == nil || gateway.FateOf(err) != tt.fate {
					t.Fatalf("Place error = %v, want fate %v", err, tt.fate)
				}
				if len(o.put) != 0 {
					t.Fatalf("orders put on failure: %v", o.put)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.put) != 1 {
				t.Fatalf("%d orders put, want 1", len(o.put))
			}
			got := o.put[0]
			if got.ID != p.ProviderRef || got.Kind != gateway.OrderDial || got.Handle != tt.leg.OfficerHandle ||
				got.DeviceID != "d_1" || got.AttemptID != "a_1" || !got.ExpiresAt.Equal(deadline) || got.Status != gateway.OrderPending ||
				got.Channel != agent.FaceTime || got.Reference != "ACDE-FGHJ" {
				t.Fatalf("order = %+v, placement %+v", got, p)
			}
		})
	}
}

func TestHangUpAndJoin(t *testing.T) {
	o := &orders{}
	a := agent.New(gateway.Channel("whatsapp"), o)
	leg := gateway.Leg{VerificationID: "v_1", AttemptID: "a_9", Channel: gateway.Channel("zoom"), Device: gateway.Device{ID: "d_2"}, Deadline: time.Now().Add(time.Minute)}
	if err := a.HangUp(context.Background(), leg, gateway.Placement{ProviderRef: "o_1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SendJoin(context.Background(), leg, "https://zoom.example/j/1"); err != nil {
		t.Fatal(err)
	}
	if len(o.put) != 2 || o.put[0].Kind != gateway.OrderHangUp || o.put[0].AttemptID != "a_9" ||
		o.put[1].Kind != gateway.OrderJoin || o.put[1].JoinURL != "https://zoom.example/j/1" || o.put[1].Channel != gateway.Channel("zoom") {
		t.Fatalf("orders = %+v", o.put)
	}
	// A PSTN leg to the supervisor desk has no device: nothing to hang up.
	if err := a.HangUp(context.Background(), gateway.Leg{AttemptID: "a_10"}, gateway.Placement{}); err != nil || len(o.put) != 2 {
		t.Fatalf("hang-up without device: err %v, orders %d", err, len(o.put))
	}
}

package gateway_test

import (
	"maps"
	"testing"
	"time"

	"github.com/safeconnection/gateway"
)

// TestDeviceApply is the rules of the pool as a table: what a rotation,
// taking a device out of service, retiring it or a new credential may
// change, what each does to the agent's credentials, and that the call in
// progress (the live lease) is never touched.
func TestDeviceApply(t *testing.T) {
	str := func(s string) *string { return &s }
	status := func(s gateway.DeviceStatus) *gateway.DeviceStatus { return &s }
	lease := &gateway.Lease{DeviceID: "d1", RoomID: "AW", Holder: "v_1", Fence: 3, ExpiresAt: time.Now().Add(time.Minute)}
	device := func(st gateway.DeviceStatus) gateway.Device {
		return gateway.Device{ID: "d1", RoomID: "AW", Name: "Handset 1", Number: "+447911123456", Status: st, Version: 4, Lease: lease,
			Handles: map[gateway.Channel]string{gateway.Channel("facetime"): "ops1@met.example"}}
	}
	tests := []struct {
		name   string
		before gateway.Device
		change gateway.DeviceChange
		code   string                  // of the error; "" none
		want   func(d *gateway.Device) // what the change makes of before
		creds  gateway.CredentialChange
	}{
		{"rename", device(gateway.DeviceInService), gateway.DeviceChange{Name: str("Handset 1b")}, "",
			func(d *gateway.Device) { d.Name = "Handset 1b" }, gateway.CredentialKept},
		{"new number and handles", device(gateway.DeviceInService),
			gateway.DeviceChange{Number: str("+447912345678"), Handles: map[gateway.Channel]string{gateway.Channel("whatsapp"): "+447912345678"}}, "",
			func(d *gateway.Device) {
				d.Number, d.Handles = "+447912345678", map[gateway.Channel]string{gateway.Channel("whatsapp"): "+447912345678"}
			}, gateway.CredentialKept},
		{"handles removed, number kept", device(gateway.DeviceInService), gateway.DeviceChange{Handles: map[gateway.Channel]string{}}, "",
			func(d *gateway.Device) { d.Handles = map[gateway.Channel]string{} }, gateway.CredentialKept},
		{"number removed, handles kept", device(gateway.DeviceInService), gateway.DeviceChange{Number: str("")}, "",
			func(d *gateway.Device) { d.Number = "" }, gateway.CredentialKept},
		{"out of service", device(gateway.DeviceInService), gateway.DeviceChange{Status: status(gateway.DeviceOutOfService)}, "",
			func(d *gateway.Device) { d.Status = gateway.DeviceOutOfService }, gateway.CredentialKept},
		{"back in service", device(gateway.DeviceOutOfService), gateway.DeviceChange{Status: status(gateway.DeviceInService)}, "",
			func(d *gateway.Device) { d.Status = gateway.DeviceInService }, gateway.CredentialKept},
		{"retired", device(gateway.DeviceOutOfService), gateway.DeviceChange{Status: status(gateway.DeviceRetired)}, "",
			func(d *gateway.Device) { d.Status = gateway.DeviceRetired }, gateway.CredentialRevoked},
		{"new credential alone", device(gateway.DeviceInService), gateway.DeviceChange{RotateCredential: true}, "",
			func(*gateway.Device) {}, gateway.CredentialRenewed},
		{"out of service with a new credential", device(gateway.DeviceInService),
			gateway.DeviceChange{Status: status(gateway.DeviceOutOfService), RotateCredential: true}, "",
			func(d *gateway.Device) { d.Status = gateway.DeviceOutOfService }, gateway.CredentialRenewed},
		{"nothing", device(gateway.DeviceInService), gateway.DeviceChange{}, gateway.EINVALID, nil, gateway.CredentialKept},
		{"retired with a new credential", device(gateway.DeviceInService),
			gateway.DeviceChange{Status: status(gateway.DeviceRetired), RotateCredential: true}, gateway.EINVALID, nil, gateway.CredentialRenewed},
		{"leaves nothing to call", device(gateway.DeviceInService),
			gateway.DeviceChange{Number: str(""), Handles: map[gateway.Channel]string{}}, gateway.EINVALID, nil, gateway.CredentialKept},
		{"a new credential for a device with nothing to call on", gateway.Device{ID: "d1", Status: gateway.DeviceInService, Lease: lease},
			gateway.DeviceChange{RotateCredential: true}, "", func(*gateway.Device) {}, gateway.CredentialRenewed},
		{"out of service, a device with nothing to call on", gateway.Device{ID: "d1", Status: gateway.DeviceInService, Lease: lease},
			gateway.DeviceChange{Status: status(gateway.DeviceOutOfService)}, gateway.EINVALID, nil, gateway.CredentialKept},
		{"a retired device renamed", device(gateway.DeviceRetired), gateway.DeviceChange{Name: str("again")}, gateway.ECONFLICT, nil, gateway.CredentialKept},
		{"a retired device back in service", device(gateway.DeviceRetired), gateway.DeviceChange{Status: status(gateway.DeviceInService)},
			gateway.ECONFLICT, nil, gateway.CredentialKept},
		{"a retired device's new credential", device(gateway.DeviceRetired), gateway.DeviceChange{RotateCredential: true},
			gateway.ECONFLICT, nil, gateway.CredentialRenewed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.before
			d.Handles = maps.Clone(tt.before.Handles)
			err := d.Apply(tt.change)
			if gateway.ErrorCode(err) != tt.code {
				t.Fatalf("Apply = %v, want code %q", err, tt.code)
			}
			want := tt.before
			want.Handles = maps.Clone(tt.before.Handles)
			if err == nil {
				tt.want(&want)
			}
			if d.ID != want.ID || d.Name != want.Name || d.Number != want.Number || d.Status != want.Status ||
				d.Version != want.Version || !maps.Equal(d.Handles, want.Handles) || d.Lease != lease {
				t.Errorf("after Apply: %+v, want %+v (lease %p, want %p)", d, want, d.Lease, lease)
			}
			if got := tt.change.Credentials(); got != tt.creds {
				t.Errorf("Credentials() = %d, want %d", got, tt.creds)
			}
		})
	}
}

// TestApplyKeepsNoAliasOfTheChange: the device's handles are its own copy,
// so a change reused (a store's retried write) cannot alter a device it
// was applied to.
func TestApplyKeepsNoAliasOfTheChange(t *testing.T) {
	c := gateway.DeviceChange{Handles: map[gateway.Channel]string{gateway.Channel("zoom"): "ops1"}}
	d := gateway.Device{ID: "d1", Status: gateway.DeviceInService}
	if err := d.Apply(c); err != nil {
		t.Fatal(err)
	}
	c.Handles[gateway.Channel("zoom")] = "changed"
	if d.Handles[gateway.Channel("zoom")] != "ops1" {
		t.Errorf("device handles follow the change: %v", d.Handles)
	}
}

func TestCheckCallable(t *testing.T) {
	tests := []struct {
		name string
		d    gateway.Device
		ok   bool
	}{
		{"number only", gateway.Device{Number: "+447911123456"}, true},
		{"handle only", gateway.Device{Handles: map[gateway.Channel]string{gateway.Channel("zoom"): "ops1"}}, true},
		{"neither", gateway.Device{Handles: map[gateway.Channel]string{}}, false},
	}
	for _, tt := range tests {
		err := tt.d.CheckCallable()
		if (err == nil) != tt.ok || (err != nil && gateway.ErrorCode(err) != gateway.EINVALID) {
			t.Errorf("%s: CheckCallable = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

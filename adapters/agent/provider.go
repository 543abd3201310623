package agent

import (
	"context"
	"strings"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/config"
	"github.com/safeconnection/gateway/handle"
	"github.com/safeconnection/gateway/provider"
)

// FaceTime is the facetime channel, which only the device agents place:
// Apple offers no server API.
const FaceTime gateway.Channel = "facetime"

// Descriptor describes the device agents' own channel, FaceTime. Other
// channels placed by the device agents (WhatsApp video, and Meet and Teams
// without their APIs) are described by their own packages, which wire this
// package's Adapter through provider.Wiring.Agent.
var Descriptor = provider.Provider{
	Name: "agent",
	Channels: []gateway.ChannelInfo{{
		Channel: FaceTime, Title: "FaceTime", PhoneHandle: true, Reports: gateway.ReportsAgent,
		CheckHandle: checkFaceTime,
	}},
	Wire: func(_ context.Context, _ config.Config, w *provider.Wiring) error {
		return w.Register(w.Agent(FaceTime))
	},
	DemoApps: map[gateway.Channel][]int{FaceTime: {1, 3}},
}

// checkFaceTime accepts an E.164 number or an Apple ID e-mail address.
func checkFaceTime(h string) (string, error) {
	if strings.HasPrefix(h, "+") {
		return handle.E164(h)
	}
	if _, err := handle.Email(h); err != nil {
		return "", gateway.Errorf(gateway.EINVALID, "facetime needs an E.164 number or an Apple ID e-mail address")
	}
	return h, nil
}

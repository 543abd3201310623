package main

import "github.com/safeconnection/gateway"

// channelRegistry describes the channels the gateway serves.
func channelRegistry() *gateway.Registry {
	reg, err := gateway.NewRegistry(
		gateway.ChannelInfo{Channel: gateway.ChannelFaceTime, Title: "FaceTime", PhoneHandle: true, Reports: gateway.ReportsAgent},
		gateway.ChannelInfo{Channel: gateway.ChannelWhatsApp, Title: "WhatsApp", PhoneHandle: true, Reports: gateway.ReportsAgent},
		gateway.ChannelInfo{Channel: gateway.ChannelZoom, Title: "Zoom", Reports: gateway.ReportsWebhook},
		gateway.ChannelInfo{Channel: gateway.ChannelMeet, Title: "Google Meet", Reports: gateway.ReportsBothEnds},
		gateway.ChannelInfo{Channel: gateway.ChannelTeams, Title: "Microsoft Teams", Reports: gateway.ReportsBothEnds},
		gateway.ChannelInfo{Channel: gateway.ChannelWebRTC, Title: "Twilio Video", Reports: gateway.ReportsWebhook},
		gateway.ChannelInfo{Channel: gateway.ChannelPSTN, Title: "telephone", PhoneHandle: true, Reports: gateway.ReportsWebhook},
	)
	if err != nil {
		panic(err) // a fixed list: a duplicate is a programming error
	}
	return reg
}

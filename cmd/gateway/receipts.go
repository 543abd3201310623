package main

import (
	"github.com/safeconnection/gateway/httpapi"
)

// wireReceipts lets supervisors send a receipt by message, through the
// senders the providers' Wire handed over (provider.Wiring.Receipts): by
// SMS through Twilio's Messages API when Twilio is configured, by WhatsApp
// template when the Cloud API and a receipt template are. Call it after
// wireAdapters.
func (m *Main) wireReceipts(srv *httpapi.Server) {
	m.Router.ReceiptURL = m.PublicURL() + "/receipt/"
	srv.ReceiptMessages = m.Router
}

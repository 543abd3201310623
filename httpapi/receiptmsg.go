package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/handle"
)

// ReceiptMessenger sends a verification's receipt by message (the router
// implements it).
type ReceiptMessenger interface {
	// SendReceipt sends the reference and receipt link of verification id
	// to the E.164 number toE164 by via ("sms", "whatsapp"), and returns
	// the note recording it, whose Data hold the way ("receipt") and the
	// number masked ("to"). ENOTFOUND; ECONFLICT unless the verification
	// has ended; EUNAVAILABLE when via is not configured or its service
	// did not take the message; EINVALID.
	SendReceipt(ctx context.Context, id, toE164, via string) (gateway.Event, error)
}

// The ways a receipt is sent by message.
var receiptVias = []string{"sms", "whatsapp"}

// maxTypedNumber bounds a phone number as a person types it.
const maxTypedNumber = 40

type receiptMessageBody struct {
	To  string `json:"to"`
	Via string `json:"via"`
}

// ReceiptMessageView is the answer to a receipt sent by message: the
// number only masked. Status "accepted": the messaging service took the
// message; what becomes of it joins the verification's events.
type ReceiptMessageView struct {
	Verification string `json:"verification"`
	Via          string `json:"via"`
	To           string `json:"to"`
	Status       string `json:"status"`
	Event        int64  `json:"event"`
}

// POST /v1/verifications/{id}/receipt-message
func (s *Server) sendReceiptMessage(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
	var body receiptMessageBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	via := strings.TrimSpace(body.Via)
	switch {
	case via == "":
		return invalid("via is required: sms or whatsapp")
	case !slices.Contains(receiptVias, via):
		return invalid("via must be sms or whatsapp")
	}
	to, err := typedNumber(body.To, s.Public.Region)
	if err != nil {
		return err
	}
	if s.ReceiptMessages == nil {
		return gateway.Errorf(gateway.EUNAVAILABLE, "receipts by message are not configured on this gateway")
	}
	ev, err := s.ReceiptMessages.SendReceipt(r.Context(), r.PathValue("id"), to, via)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusAccepted, ReceiptMessageView{
		Verification: ev.VerificationID, Via: via, To: ev.Data["to"], Status: "accepted", Event: ev.Seq,
	})
	return nil
}

// typedNumber reads the number she gave as it was typed, in E.164 or in
// the national notation of region (GB when empty): "+447911123456",
// "07911 123456". EINVALID, with a message that does not repeat it.
func typedNumber(typed, region string) (string, error) {
	typed = strings.TrimSpace(typed)
	const help = "to must be her phone number: +447911123456, or 07911 123456"
	if typed == "" {
		return "", invalid("to is required: her phone number, +447911123456 or 07911 123456")
	}
	if len(typed) > maxTypedNumber || strings.Trim(typed, "0123456789+ -().") != "" {
		return "", invalid(help)
	}
	if region == "" {
		region = "GB"
	}
	n, err := phonenumbers.Parse(typed, strings.ToUpper(region))
	if err != nil {
		return "", invalid(help)
	}
	e164, err := handle.E164(phonenumbers.Format(n, phonenumbers.E164))
	if err != nil {
		return "", invalid(help)
	}
	return e164, nil
}

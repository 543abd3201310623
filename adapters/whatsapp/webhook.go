package whatsapp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
)

// MaxWebhookBytes bounds a webhook's body.
const MaxWebhookBytes = 64 << 10

// statusWorkers bounds the statuses of one webhook handed to OnStatus at
// once.
const statusWorkers = 16

// The message statuses Meta reports.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
)

// MessageStatus is one status of a message sent by the Sender.
type MessageStatus struct {
	MessageID string    // "wamid...."
	Status    string    // StatusSent, StatusDelivered, StatusRead or StatusFailed
	Recipient string    // the recipient's WhatsApp ID (digits): never log it in clear
	At        time.Time // when Meta says it happened
	Received  time.Time // when the gateway was told
	// Opaque is the biz_opaque_callback_data sent with the message, if any.
	Opaque string
	// Errors say why a message failed.
	Errors []StatusError
}

// Reason is why a failed message failed, in Meta's words ("131026:
// Message undeliverable"), or "" when Meta gave no reason.
func (st MessageStatus) Reason() string {
	var out []string
	for _, e := range st.Errors {
		r := strconv.Itoa(e.Code)
		if e.Title != "" {
			r += ": " + e.Title
		}
		out = append(out, r)
	}
	return strings.Join(out, "; ")
}

// StatusError is one of Meta's reasons for a failed message.
type StatusError struct {
	Code    int    // e.g. 131026: undeliverable
	Title   string // Meta's short description
	Details string
}

// Webhook returns the handler of the Cloud API's webhooks, to be mounted at
// /webhooks/whatsapp/. A GET is Meta's subscribe handshake: hub.mode
// "subscribe" with the VerifyToken is answered 200 with hub.challenge as
// text, anything else 403. A POST must carry X-Hub-Signature-256 over its
// raw body keyed with the AppSecret (else 403, and nothing changes); its
// message statuses for our phone number go to OnStatus, and it is answered
// 200, or 503 when OnStatus could not record one (see Sender.OnStatus).
func (s *Sender) Webhook() http.Handler { return http.HandlerFunc(s.serveWebhook) }

func (s *Sender) serveWebhook(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.handshake(w, r)
		return
	case http.MethodPost:
	default:
		httpx.RefuseMethod(w, "GET, POST", "method not allowed")
		return
	}
	body, err := httpx.ReadBody(w, r, MaxWebhookBytes)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	if err := s.verify(r.Header.Get("X-Hub-Signature-256"), body); err != nil {
		s.log().WithError(err).Warn("whatsapp webhook refused")
		httpx.WriteError(w, err)
		return
	}
	statuses, err := ParseStatuses(body, s.PhoneNumberID)
	if err != nil {
		httpx.WriteError(w, err)
		return
	}
	// Different messages' statuses are handed over side by side, a few
	// messages at a time: OnStatus may wait a while for a message's send to
	// be recorded, and Meta wants its answer within seconds. One message's
	// statuses go in order, one at a time.
	var (
		order  []string
		byID   = map[string][]MessageStatus{}
		wg     sync.WaitGroup
		slots  = make(chan struct{}, statusWorkers)
		failed atomic.Bool
	)
	for _, st := range statuses {
		st.Received = s.now()
		if _, ok := byID[st.MessageID]; !ok {
			order = append(order, st.MessageID)
		}
		byID[st.MessageID] = append(byID[st.MessageID], st)
	}
	for _, id := range order {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			for _, st := range byID[id] {
				log := s.log().WithFields(map[string]any{"message": s.LogID(st.MessageID), "status": st.Status})
				log.Debug("whatsapp message status")
				switch err := s.onStatus(r.Context(), st); gateway.ErrorCode(err) {
				case "":
				case gateway.ENOTFOUND, gateway.EINVALID:
					log.WithError(err).Info("whatsapp message status not recorded")
				default:
					log.WithError(err).Error("whatsapp message status could not be recorded")
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		// Meta sends the whole webhook again; the statuses recorded now
		// are recorded once (see OnStatus).
		httpx.WriteError(w, gateway.Errorf(gateway.EUNAVAILABLE, "could not record the statuses"))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handshake answers Meta's subscribe handshake.
func (s *Sender) handshake(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	challenge := q.Get("hub.challenge")
	if s.VerifyToken == "" || q.Get("hub.mode") != "subscribe" ||
		subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(s.VerifyToken)) != 1 ||
		challenge == "" || len(challenge) > 256 {
		httpx.WriteError(w, gateway.Errorf(gateway.ESIGNATURE, "subscribe handshake refused"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, challenge)
}

// verify checks X-Hub-Signature-256: "sha256=" and the hex HMAC-SHA256 of
// body keyed with the AppSecret. Errors are ESIGNATURE.
func (s *Sender) verify(header string, body []byte) error {
	if s.AppSecret == "" {
		return gateway.Errorf(gateway.ESIGNATURE, "whatsapp webhooks are not configured")
	}
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return gateway.Errorf(gateway.ESIGNATURE, "missing X-Hub-Signature-256")
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return gateway.Errorf(gateway.ESIGNATURE, "bad X-Hub-Signature-256")
	}
	mac := hmac.New(sha256.New, []byte(s.AppSecret))
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return gateway.Errorf(gateway.ESIGNATURE, "X-Hub-Signature-256 does not verify")
	}
	return nil
}

// onStatus hands st to OnStatus, or keeps it in memory.
func (s *Sender) onStatus(ctx context.Context, st MessageStatus) error {
	if s.OnStatus != nil {
		return s.OnStatus(ctx, st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = append(s.statuses, st)
	if len(s.statuses) > maxStatuses {
		s.statuses = append([]MessageStatus(nil), s.statuses[len(s.statuses)-maxStatuses:]...)
	}
	return nil
}

// Statuses returns the statuses kept in memory (when OnStatus is nil), the
// oldest first.
func (s *Sender) Statuses() []MessageStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MessageStatus(nil), s.statuses...)
}

type rawWebhook struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				MessagingProduct string `json:"messaging_product"`
				Metadata         struct {
					DisplayPhoneNumber string `json:"display_phone_number"`
					PhoneNumberID      string `json:"phone_number_id"`
				} `json:"metadata"`
				Statuses []struct {
					ID          string `json:"id"`
					Status      string `json:"status"`
					Timestamp   string `json:"timestamp"`
					RecipientID string `json:"recipient_id"`
					BizOpaque   string `json:"biz_opaque_callback_data"`
					Errors      []struct {
						Code      int    `json:"code"`
						Title     string `json:"title"`
						Message   string `json:"message"`
						ErrorData struct {
							Details string `json:"details"`
						} `json:"error_data"`
					} `json:"errors"`
				} `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// ParseStatuses decodes a webhook body: one JSON object of at most
// MaxWebhookBytes, whose object is "whatsapp_business_account". It returns
// the message statuses of the "messages" changes for phoneNumberID (all
// numbers when empty), and ignores other changes (incoming messages,
// calls) and fields (Meta adds them over time). A status must have an ID,
// one of the four known statuses and a timestamp in Unix seconds. Errors
// are EINVALID.
func ParseStatuses(body []byte, phoneNumberID string) ([]MessageStatus, error) {
	if len(body) > MaxWebhookBytes {
		return nil, gateway.Errorf(gateway.ETOOLARGE, "body over %d bytes", MaxWebhookBytes)
	}
	var raw rawWebhook
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, gateway.Errorf(gateway.EINVALID, "malformed whatsapp webhook: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, gateway.Errorf(gateway.EINVALID, "malformed whatsapp webhook: data after the object")
	}
	if raw.Object != "whatsapp_business_account" {
		return nil, gateway.Errorf(gateway.EINVALID, "not a whatsapp_business_account webhook")
	}
	var out []MessageStatus
	for _, e := range raw.Entry {
		for _, c := range e.Changes {
			if c.Field != "messages" {
				continue
			}
			if phoneNumberID != "" && c.Value.Metadata.PhoneNumberID != phoneNumberID {
				continue
			}
			for _, st := range c.Value.Statuses {
				switch st.Status {
				case StatusSent, StatusDelivered, StatusRead, StatusFailed:
				default:
					return nil, gateway.Errorf(gateway.EINVALID, "unknown message status %.20q", st.Status)
				}
				secs, err := strconv.ParseInt(st.Timestamp, 10, 64)
				if st.ID == "" || err != nil || secs <= 0 {
					return nil, gateway.Errorf(gateway.EINVALID, "message status without an id or timestamp")
				}
				ms := MessageStatus{MessageID: st.ID, Status: st.Status, Recipient: st.RecipientID,
					At: time.Unix(secs, 0).UTC(), Opaque: st.BizOpaque}
				for _, se := range st.Errors {
					ms.Errors = append(ms.Errors, StatusError{Code: se.Code, Title: se.Title, Details: se.ErrorData.Details})
				}
				out = append(out, ms)
			}
		}
	}
	return out, nil
}

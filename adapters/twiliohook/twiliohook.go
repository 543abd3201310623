// Package twiliohook is what the Twilio adapters (pstn and twiliovideo)
// share to receive Twilio's callbacks: a POSTed form body of at most
// MaxBody, checked against its X-Twilio-Signature, the keys that recognise
// a callback delivered again, and the answer Twilio gets once the
// callback's report is handed over.
package twiliohook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/httpx"
)

// MaxBody is the largest callback body accepted.
const MaxBody = 64 << 10

// DeliveryTTL is how long the keys of a callback are remembered
// (gateway.ReportOnce): longer than Twilio goes on sending one again.
const DeliveryTTL = 24 * time.Hour

// IdempotencyHeader is the header of Twilio's callbacks whose value is the
// same on each delivery of one callback (its retries).
const IdempotencyHeader = "I-Twilio-Idempotency-Token"

// Form reads and checks a callback: it must be POSTed, carry a form body of
// at most MaxBody and a valid X-Twilio-Signature (VerifySignature with
// authToken and publicURL). When it is not, Form answers with a JSON error
// (405, 400, 413, or 403 "bad_signature", logged on log as a refused
// callback of what, "twilio video" say) and ok is false.
func Form(w http.ResponseWriter, r *http.Request, authToken, publicURL string, log logrus.FieldLogger, what string) (form url.Values, ok bool) {
	if r.Method != http.MethodPost {
		httpx.RefuseMethod(w, http.MethodPost, "callbacks are POSTed")
		return nil, false
	}
	form, err := readForm(w, r)
	if err != nil {
		httpx.WriteError(w, err)
		return nil, false
	}
	if !VerifySignature(authToken, publicURL, r, form) {
		log.WithField("path", r.URL.Path).Warn(what + " callback refused: bad signature")
		httpx.WriteError(w, gateway.Errorf(gateway.ESIGNATURE, "X-Twilio-Signature does not verify"))
		return nil, false
	}
	return form, true
}

// Served reports whether r's path is one of paths, the webhooks a handler
// serves; when it is not, it answers 404 with a JSON error.
func Served(w http.ResponseWriter, r *http.Request, paths ...string) bool {
	if slices.Contains(paths, r.URL.Path) {
		return true
	}
	httpx.WriteError(w, gateway.Errorf(gateway.ENOTFOUND, "no such webhook"))
	return false
}

// readForm reads a form body of at most MaxBody bytes. Errors are
// ETOOLARGE or EINVALID.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, gateway.Errorf(gateway.EINVALID, "expected a form body")
	}
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, gateway.Errorf(gateway.EINVALID, "malformed form body")
	}
	return form, nil
}

// VerifySignature reports whether r carries a valid X-Twilio-Signature for
// its form body: computed with authToken over publicURL + r's request URI
// (never r's Host: the gateway runs behind proxies) followed by the
// parameters in name order, each distinct value of a repeated one in order
// after its name, as Twilio signs them. The URL must be exactly the one
// Twilio was given: twilio-go's RequestValidator also accepts it with its
// port added or dropped, a second URL an attacker may have a signature for,
// so the signature is computed here, with Twilio's algorithm (HMAC-SHA1,
// base64), and compared in constant time.
func VerifySignature(authToken, publicURL string, r *http.Request, form url.Values) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || authToken == "" || publicURL == "" {
		return false
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(publicURL, "/"))
	b.WriteString(r.URL.RequestURI())
	for _, k := range slices.Sorted(maps.Keys(form)) {
		vs := slices.Clone(form[k])
		slices.Sort(vs)
		for _, v := range slices.Compact(vs) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	return subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1
}

// DeliveryKeys returns the keys that name one delivery of the callback r,
// verified with publicURL, whose form is form, for gateway.ReportOnce:
// Twilio's I-Twilio-Idempotency-Token when it is there, and always a hash
// of the URL Twilio signed, the body and the signature. The header is not
// signed, so a replay with another token is still recognised by the hash.
func DeliveryKeys(publicURL string, r *http.Request, form url.Values) []string {
	h := sha256.New()
	for _, part := range []string{strings.TrimSuffix(publicURL, "/") + r.URL.RequestURI(), form.Encode(), r.Header.Get("X-Twilio-Signature")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	keys := []string{"twilio:sha256:" + hex.EncodeToString(h.Sum(nil))}
	if tok := r.Header.Get(IdempotencyHeader); tok != "" && len(tok) <= 256 {
		keys = append(keys, "twilio:token:"+tok)
	}
	return keys
}

// Report answers a verified callback whose report is rep (ok false: the
// callback is ignored): 204 once reporter has it, also when its attempt is
// unknown (Twilio can do nothing about it) and when reporter says it is a
// replay (gateway.ErrReplay: nothing is reported again); 503 without a
// reporter; 500 when the report could not be recorded. log carries the
// callback's fields; what names the callbacks in its messages.
func Report(w http.ResponseWriter, r *http.Request, reporter gateway.Reporter, rep gateway.Report, ok bool, log logrus.FieldLogger, what string) {
	if !ok {
		log.Debug(what + " callback ignored")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if reporter == nil {
		log.Error(what + " callback dropped: no reporter")
		httpx.WriteError(w, gateway.Errorf(gateway.EUNAVAILABLE, "not ready"))
		return
	}
	if err := reporter.Report(r.Context(), rep); err != nil {
		if errors.Is(err, gateway.ErrReplay) {
			log.Info(what + " callback delivered again: acknowledged, not reported again")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if gateway.ErrorCode(err) == gateway.ENOTFOUND {
			log.Info(what + " callback for an unknown attempt")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		log.WithError(err).Error(what + " callback not recorded")
		httpx.WriteNotRecorded(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/httperror"
)

// The HTTP layer's own codes (httperror's).
const (
	codeMethodNotAllowed = httperror.CodeMethodNotAllowed
	codeHeadersTooLarge  = httperror.CodeHeadersTooLarge
)

// genericMessage is shown when an error carries no client-safe message.
var genericMessage = map[string]string{
	gateway.EINVALID:      "invalid request",
	gateway.EUNAUTHORIZED: "a valid bearer credential is required",
	gateway.EFORBIDDEN:    "this credential may not do that",
	gateway.ENOTFOUND:     "not found",
	codeMethodNotAllowed:  "method not allowed",
	gateway.ECONFLICT:     "the current state does not allow that",
	gateway.ETOOLARGE:     "request body too large",
	gateway.EOUTSIDE:      "no operations room covers that location",
	gateway.ERATELIMITED:  "too many requests",
	gateway.EUNAVAILABLE:  "service unavailable, try again shortly",
	gateway.ETIMEOUT:      "timed out",
	gateway.ESIGNATURE:    "bad signature",
	gateway.EINTERNAL:     "internal error",
	gateway.EIDEMPOTENCY:  "this Idempotency-Key was used before with a different request",
	codeHeadersTooLarge:   "request headers too large",
}

// StatusOf returns the HTTP status for an error code: the one table the
// API and the webhooks answer by (httperror.Status). Unknown codes are 500.
func StatusOf(code string) int { return httperror.Status(code) }

// ErrorBody is the JSON body of every error answer:
// {"error":{"code":"invalid","message":"..."}}.
type ErrorBody = httperror.Body

// marshal encodes v as JSON without HTML escaping: the API's answers are
// not HTML, and a message that names <secret> should read so, not
// \u003csecret\u003e. The trailing newline is kept.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeJSON answers with status and v as JSON.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		s.writeError(w, r, gateway.E("httpapi.writeJSON", gateway.EINTERNAL, err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

// writeError answers with err's code and client-safe message. Internal
// errors are logged with their whole chain and shown as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		s.cancelled(w, r)
		return
	}
	code := gateway.ErrorCode(err)
	if code == gateway.EINTERNAL && errors.Is(err, context.DeadlineExceeded) {
		code = gateway.ETIMEOUT
	}
	status := StatusOf(code)
	msg := gateway.ErrorMessage(err)
	if code == gateway.EINTERNAL || status == http.StatusInternalServerError {
		s.logger().WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).WithError(err).Error("internal error")
		code, msg = gateway.EINTERNAL, genericMessage[gateway.EINTERNAL]
	} else if msg == "" || msg == genericMessage[gateway.EINTERNAL] {
		msg = genericMessage[code]
	}
	if rec, ok := w.(*recorder); ok {
		rec.code = code
	}
	body := httperror.NewBody(code, msg)
	switch code {
	case gateway.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
	case gateway.EUNAVAILABLE:
		// A dependency is down or nothing is free: say when to try again,
		// so that clients retry rather than treat it as a bug. The chain
		// (an I/O error, say) goes to the log, not to the client.
		w.Header().Set("Retry-After", strconv.Itoa(s.retryAfterSeconds()))
		s.logger().WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).WithError(err).Warn("unavailable")
	}
	s.writeJSON(w, r, status, body)
}

// cancelled answers a request whose context was cancelled: the client has
// gone, or the gateway is stopping (which cancels every request). A client
// still there is told to try again, rather than given an empty 200 or an
// internal error; the log says the request was cancelled.
func (s *Server) cancelled(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", strconv.Itoa(s.retryAfterSeconds()))
	s.writeJSON(w, r, http.StatusServiceUnavailable, httperror.NewBody(gateway.EUNAVAILABLE, "the request was cancelled: the gateway may be stopping; try again"))
	if rec, ok := w.(*recorder); ok {
		rec.status, rec.code = 499, "client_gone"
	}
}

// recorder notes the status of an answer for the request log and whether
// one has started. It passes flushes through for event streams.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	code   string // the error code answered, if any
	token  string // the caller's token ID, once authenticated
}

func (rec *recorder) WriteHeader(status int) {
	if !rec.wrote {
		rec.status, rec.wrote = status, true
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wrote {
		rec.status, rec.wrote = http.StatusOK, true
	}
	return rec.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (rec *recorder) Flush() { rec.FlushError() }

// FlushError sends buffered data to the client and says whether it could.
func (rec *recorder) FlushError() error {
	if !rec.wrote {
		rec.status, rec.wrote = http.StatusOK, true
	}
	return http.NewResponseController(rec.ResponseWriter).Flush()
}

// Hijack passes a hijack through, for providers' handlers that need one.
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(rec.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// logRequests logs one line per request: method, path, status, duration,
// and the error code and token when there are any. It never logs bodies,
// query strings or headers.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			f := logrus.Fields{
				"method":   r.Method,
				"path":     logPath(r),
				"status":   status,
				"duration": time.Since(start).String(),
			}
			if rec.code != "" {
				f["error_code"] = rec.code
			}
			if rec.token != "" {
				f["token"] = rec.token
			}
			log := s.logger().WithFields(f)
			switch {
			case status >= 500:
				log.Error("request")
			case routine(r, status):
				// Device agents heartbeat and poll all day long, and
				// probes check health: logged at debug so the log keeps
				// what people do.
				log.Debug("request")
			default:
				log.Info("request")
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// personalWildcards are the path wildcards whose values are personal, or
// lead to a person: a collar number, a receipt's reference.
var personalWildcards = []string{"{collar}", "{reference}"}

// logPath is the path a request is logged under: its route's pattern when
// the route takes a personal value from the path, else the path itself.
func logPath(r *http.Request) string {
	for _, w := range personalWildcards {
		if strings.Contains(r.Pattern, w) {
			_, route, _ := strings.Cut(r.Pattern, " ")
			return route
		}
	}
	return r.URL.Path
}

// routine reports whether a request is machine routine: a successful agent
// heartbeat or poll, a health check or a metrics scrape.
func routine(r *http.Request, status int) bool {
	if status >= 400 {
		return false
	}
	switch r.URL.Path {
	case "/v1/agent/heartbeat", "/v1/agent/orders", "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// recoverPanics turns a handler's panic into a logged 500 JSON answer.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger().WithFields(logrus.Fields{
				"method": r.Method,
				"path":   r.URL.Path,
				"panic":  p,
				"stack":  string(debug.Stack()),
			}).Error("handler panicked")
			if rec, ok := w.(*recorder); ok && rec.wrote {
				// Too late for an error answer: end the connection.
				panic(http.ErrAbortHandler)
			}
			s.writeError(w, r, gateway.Errorf(gateway.EINTERNAL, "internal error"))
		}()
		next.ServeHTTP(w, r)
	})
}

// drainRefusedBodies reads and discards, up to DrainBody, what is left of
// the body of a request answered 413, before the answer leaves: closing a
// connection with unread data resets it, and a client that sends its whole
// body before it reads would see the reset instead of the 413. A client
// that asked to be told before it sends (Expect: 100-continue) has sent
// nothing yet, and is not asked for the body.
func (s *Server) drainRefusedBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := r.Body
		next.ServeHTTP(w, r)
		rec, ok := w.(*recorder)
		if !ok || rec.status != http.StatusRequestEntityTooLarge || body == nil || body == http.NoBody {
			return
		}
		if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
			return
		}
		if n := s.drainBody(); n > 0 {
			_, _ = io.CopyN(io.Discard, body, n)
		}
	})
}

// jsonErrors makes a provider's webhook handler answer its errors as the
// rest of the API does: a plain-text error (a ServeMux's 404, an
// http.Error) becomes the JSON error of its status, and a 503 says when to
// retry. Answers in JSON, XML (TwiML) and other types pass as they are.
func (s *Server) jsonErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&plainErrors{ResponseWriter: w, s: s, r: r}, r)
	})
}

// plainErrors is the writer behind jsonErrors.
type plainErrors struct {
	http.ResponseWriter
	s        *Server
	r        *http.Request
	wrote    bool
	replaced bool
}

func (p *plainErrors) WriteHeader(status int) {
	if p.wrote {
		return
	}
	p.wrote = true
	if status == http.StatusServiceUnavailable && p.Header().Get("Retry-After") == "" {
		p.Header().Set("Retry-After", strconv.Itoa(p.s.retryAfterSeconds()))
	}
	ct := p.Header().Get("Content-Type")
	if status < 400 || (ct != "" && !strings.HasPrefix(ct, "text/plain")) {
		p.ResponseWriter.WriteHeader(status)
		return
	}
	p.replaced = true
	for _, k := range []string{"Content-Type", "Content-Length", "X-Content-Type-Options"} {
		p.Header().Del(k)
	}
	code := httperror.Code(status)
	msg := genericMessage[code]
	if status == http.StatusNotFound {
		msg = "no such endpoint"
	}
	p.s.writeError(p.ResponseWriter, p.r, &gateway.Error{Code: code, Message: msg})
}

func (p *plainErrors) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	if p.replaced {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (p *plainErrors) Flush() { _ = http.NewResponseController(p.ResponseWriter).Flush() }

// Hijack passes a hijack through, for providers' handlers that need one.
func (p *plainErrors) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(p.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (p *plainErrors) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// jsonFallback answers the mux's own 404 and 405 with JSON errors.
func (s *Server) jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := mux.Handler(r); pattern == "" {
			probe := &statusProbe{header: http.Header{}}
			h.ServeHTTP(probe, r)
			if probe.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", probe.header.Get("Allow"))
				s.writeError(w, r, &gateway.Error{Code: codeMethodNotAllowed, Message: "method " + r.Method + " not allowed here"})
				return
			}
			s.writeError(w, r, gateway.Errorf(gateway.ENOTFOUND, "no such endpoint"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// statusProbe captures what the mux's fallback handlers would answer.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

// maxSecret bounds a bearer secret before it is hashed.
const maxSecret = 512

// authenticate finds the caller's token from the Authorization header.
// EUNAUTHORIZED without a valid credential.
func (s *Server) authenticate(r *http.Request) (gateway.Token, error) {
	const op = "httpapi.authenticate"
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" || len(secret) > maxSecret {
		return gateway.Token{}, gateway.Errorf(gateway.EUNAUTHORIZED, "a bearer credential is required: Authorization: Bearer <secret>")
	}
	tok, err := s.Tokens.TokenByHash(r.Context(), gateway.HashSecret(secret))
	switch gateway.ErrorCode(err) {
	case "":
		if tok.Revoked {
			return gateway.Token{}, gateway.Errorf(gateway.EUNAUTHORIZED, "unknown or revoked credential")
		}
		return tok, nil
	case gateway.ENOTFOUND:
		return gateway.Token{}, gateway.Errorf(gateway.EUNAUTHORIZED, "unknown or revoked credential")
	default:
		return gateway.Token{}, gateway.E(op, gateway.ErrorCode(err), err)
	}
}

// handlerFunc is an API handler: it answers, or returns an error that the
// wrapper answers with.
type handlerFunc func(w http.ResponseWriter, r *http.Request, tok gateway.Token) error

// authed authenticates the caller, checks the role, runs h and answers its
// error.
func (s *Server) authed(h handlerFunc, roles ...gateway.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rec, _ := w.(*recorder)
		if rec != nil {
			rec.token = tok.ID
		}
		allowed := false
		for _, role := range roles {
			allowed = allowed || tok.Role == role
		}
		if !allowed {
			s.writeError(w, r, gateway.Errorf(gateway.EFORBIDDEN, "%s credential may not do that", withArticle(string(tok.Role))))
			return
		}
		if err := h(w, r, tok); err != nil {
			if rec != nil && rec.wrote {
				// The answer has started (an event stream): log only.
				if r.Context().Err() == nil {
					s.logger().WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).WithError(err).Warn("error after the answer started")
				}
				return
			}
			s.writeError(w, r, err)
		}
	})
}

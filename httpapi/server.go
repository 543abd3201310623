// Package httpapi is the gateway's HTTP layer: the officer API, the
// device-agent protocol, the ops API for the device pool, provider webhooks
// and join pages, health and metrics. It speaks JSON in and out (the join
// pages, mounted for the adapters that serve them, speak HTML), authenticates
// every caller with a bearer credential and a role, decodes bodies strictly
// and under a size limit, and maps the gateway's error codes to HTTP
// statuses in one table. It holds no state of its own: the router and the
// store do.
package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/ledger"
)

// Router is what the HTTP layer asks of the routing core.
type Router interface {
	// Request starts a verification and returns at once with it in state
	// routing; the call is placed in the background. created is false when
	// the request's idempotency key was used before by the same requester:
	// the existing verification is returned; EIDEMPOTENCY when it was used
	// with another request (another Fingerprint). EOUTSIDE for a location no room
	// covers, EINVALID for a bad request, EUNAVAILABLE when no adapter serves
	// any of the officer's channels.
	Request(ctx context.Context, req gateway.Request) (v gateway.Verification, created bool, err error)
	// Cancel withdraws a verification on behalf of by (a token ID).
	// ENOTFOUND; ECONFLICT when it has finished.
	Cancel(ctx context.Context, id, by string) (gateway.Verification, error)
	// RecordOutcome records the supervisor's judgement. ENOTFOUND; EINVALID;
	// ECONFLICT unless the call is connected (or ended awaiting an outcome).
	RecordOutcome(ctx context.Context, id string, o gateway.Outcome) (gateway.Verification, error)
	// Joined records that the officer app has joined the meeting of the
	// verification's current attempt (meeting-style channels without
	// provider webhooks learn "connected" from both ends). ENOTFOUND;
	// ECONFLICT when no attempt is in progress.
	Joined(ctx context.Context, id string) error
	// Report hands a device agent's status report to the router. ENOTFOUND
	// when no attempt matches; EINVALID for a report that makes no sense.
	gateway.Reporter
}

// TokenStore is the part of the store that keeps credentials.
type TokenStore interface {
	// TokenByHash finds a token that is not revoked. ENOTFOUND.
	TokenByHash(ctx context.Context, hash string) (gateway.Token, error)
	// CreateToken stores a token. ECONFLICT if its ID or hash exists.
	CreateToken(ctx context.Context, t gateway.Token) error
	// Tokens lists every token, revoked ones too.
	Tokens(ctx context.Context) ([]gateway.Token, error)
	// RevokeToken revokes a token. ENOTFOUND.
	RevokeToken(ctx context.Context, id string) error
}

// VerificationReader is the part of the store the HTTP layer reads
// verifications and their events from.
type VerificationReader interface {
	// Verification returns one verification with its attempts. ENOTFOUND.
	Verification(ctx context.Context, id string) (gateway.Verification, error)
	// Events returns a verification's events with Seq > after, oldest
	// first; limit 0 is no limit.
	Events(ctx context.Context, verificationID string, after int64, limit int) ([]gateway.Event, error)
	// Verifications lists verifications with their attempts, oldest first.
	Verifications(ctx context.Context, f gateway.VerificationFilter) ([]gateway.Verification, error)
}

// OrderStore is the part of the store that keeps device agents' orders.
type OrderStore interface {
	// TakeOrders returns the device's pending, unexpired orders oldest first
	// and marks them delivered.
	TakeOrders(ctx context.Context, deviceID string) ([]gateway.Order, error)
	// Order returns one order. ENOTFOUND.
	Order(ctx context.Context, id string) (gateway.Order, error)
	// SetOrderStatus moves an order on. ENOTFOUND.
	SetOrderStatus(ctx context.Context, id string, s gateway.OrderStatus) error
}

// DeviceStore is the part of the store that keeps the device pool.
type DeviceStore interface {
	// CreateDevice adds a device. ECONFLICT if the ID exists, EINVALID
	// without an ID or room.
	CreateDevice(ctx context.Context, d gateway.Device) (gateway.Device, error)
	// Device returns one device. ENOTFOUND.
	Device(ctx context.Context, id string) (gateway.Device, error)
	// Devices lists devices, of one room or of all when room is empty.
	Devices(ctx context.Context, room string, withRetired bool) ([]gateway.Device, error)
	// UpdateDevice applies fn to the device in one transaction. ENOTFOUND;
	// ECONFLICT when the device is retired; fn's error as is.
	UpdateDevice(ctx context.Context, id string, fn func(*gateway.Device) error) (gateway.Device, error)
	// Heartbeat records that the device's agent is alive. ENOTFOUND.
	Heartbeat(ctx context.Context, id string, battery int, apps []gateway.Channel) (gateway.Device, error)
	// RecordHeartbeat records that the device's agent is alive, with its
	// battery, charging and apps. ENOTFOUND.
	RecordHeartbeat(ctx context.Context, id string, hb gateway.HeartbeatReport) (gateway.Device, error)
}

// RoomSet is the part of the rooms the HTTP layer checks a device's room
// against.
type RoomSet interface {
	// Room returns the room with the ID, and whether there is one.
	Room(id string) (gateway.Room, bool)
}

// Defaults of the Server's fields.
const (
	DefaultMaxBody      = 64 << 10
	DefaultAgentWait    = 25 * time.Second
	DefaultSSEHeartbeat = 15 * time.Second
	DefaultRetryAfter   = 2 * time.Second
	DefaultDrainBody    = 1 << 20
	DefaultMaxStreams   = 16
	DefaultBodyTimeout  = 10 * time.Second
	// ReadyTimeout bounds the Ready check behind /readyz.
	ReadyTimeout = 2 * time.Second
)

// Server serves the gateway's HTTP API. Set the fields, then call Handler.
// Router, Tokens, Verifications, Orders, Devices and Bus are required; a
// gateway.Store satisfies every store part (see NewServer).
type Server struct {
	// Router is the routing core.
	Router Router
	// Tokens authenticates callers and keeps device agents' credentials.
	Tokens TokenStore
	// Verifications is read for a verification's record and events.
	Verifications VerificationReader
	// Orders holds the device agents' orders.
	Orders OrderStore
	// Devices is the device pool.
	Devices DeviceStore
	// Bus wakes event streams and agents' long polls.
	Bus gateway.Bus
	// Rooms, when set, is the set of operations rooms: a device is added
	// only to one of them. Nil: any room ID is taken.
	Rooms RoomSet

	// Logger takes the request log and every internal error. Default: the
	// logrus standard logger.
	Logger logrus.FieldLogger
	// Now is the clock for outcomes and reports. Default: time.Now.
	Now func() time.Time
	// MaxBody is the largest request body accepted, in bytes. Default:
	// DefaultMaxBody (64 KiB).
	MaxBody int64
	// Channels knows the channels the gateway serves and checks handles on
	// them: officers' contacts, devices' handles and apps. Nil knows none.
	Channels *gateway.Registry
	// Webhooks are providers' webhook handlers by name, each mounted at
	// /webhooks/{name}/ without stripping the prefix: a handler sees the
	// full path, so it can check signatures against the public URL. Names
	// are lower-case letters, digits, '-' and '_'.
	Webhooks map[string]http.Handler
	// Pages are pages of the gateway's own that people open in a browser
	// (a provider's join page), by name, each mounted at /join/{name}/
	// without stripping the prefix, under the same name rules as Webhooks.
	// The handler answers for itself, in HTML: it is not part of the JSON
	// API.
	Pages map[string]http.Handler
	// Metrics is served at /metrics when set.
	Metrics http.Handler
	// MetricsAuth makes /metrics need an ops credential.
	MetricsAuth bool
	// Ready reports whether the gateway can serve (store reachable, say);
	// /readyz calls it with a ReadyTimeout deadline. Nil: always ready.
	Ready func(ctx context.Context) error
	// AgentWait caps a device agent's long poll. Default: DefaultAgentWait.
	AgentWait time.Duration
	// SSEHeartbeat is the interval of the comment lines that keep an event
	// stream open, and of its re-reads should a wake-up have been missed.
	// Default: DefaultSSEHeartbeat.
	SSEHeartbeat time.Duration
	// RetryAfter is what every 503 (unavailable) answer's Retry-After
	// header tells the client to wait, rounded up to whole seconds.
	// Default: DefaultRetryAfter.
	RetryAfter time.Duration
	// DrainBody is how much of a body refused as too large (413) is read
	// and discarded before the answer, so that a client that sends its
	// whole body before it reads sees the 413 rather than a reset
	// connection. Beyond it the connection is closed. Default:
	// DefaultDrainBody (1 MiB); negative: none.
	DrainBody int64
	// WriteTimeout is the http.Server's write timeout, which answers that
	// last (event streams, agents' long polls) extend as they go: each
	// write of a stream must finish within it, and a stream sends a
	// heartbeat at least twice within it. Zero: none.
	WriteTimeout time.Duration
	// BodyTimeout bounds the reading of a body on the routes that need no
	// credential (webhooks, join pages): the connection's read deadline is
	// brought forward to it when the handler starts, so that an
	// unauthenticated client cannot hold a handler for the server's whole
	// read timeout. Providers send their small bodies at once. Default:
	// DefaultBodyTimeout; negative: none beyond the server's.
	BodyTimeout time.Duration
	// Log is the deployment's tamper-evident log, served at /log/ and
	// in exports; nil serves neither. LogKey is its verifier key.
	Log    *ledger.Log
	LogKey string
	// Public configures the pages for the public (official numbers,
	// receipts); the zero value serves none.
	Public Public
	// Feedback keeps her feedback from the receipt. Nil: the receipt
	// takes none.
	Feedback gateway.FeedbackStore
	// ReceiptMessages sends receipts by message for supervisors. Nil:
	// none is sent (503).
	ReceiptMessages ReceiptMessenger
	// Roster is the duty roster supervisors check officers against; the
	// zero value has none.
	Roster Roster
	// MaxStreams caps the event streams open at once with one credential;
	// one more is a 429. Default: DefaultMaxStreams; negative: no cap.
	MaxStreams int
	// Health judges what each device can serve now, shown with it in the
	// ops API (the claim is judged by the same policy). Default: the
	// gateway's default stale heartbeat and battery floor.
	Health gateway.HealthPolicy

	// Ops keeps what ops staff change, with the ops record. Nil: the ops
	// API's new routes answer 503 and device changes are made as before.
	Ops OpsStore
	// RoomEditor is the set of rooms the ops API lists and changes. Nil:
	// the rooms routes answer 503.
	RoomEditor RoomEditor
	// Console is the supervisor console, mounted at /console and under
	// /console/ without stripping the prefix; it answers for itself, in
	// HTML. Nil: no console.
	Console http.Handler

	// Handsets records the public's calls that device agents report
	// ringing on their handsets (POST /v1/agent/calls). Nil: none is
	// taken (503).
	Handsets gateway.HandsetService
	// CallerKey keys the hash a caller rung in on a handset is kept as
	// (gateway.HashCaller): the same key as the public's PSTN calls'.
	CallerKey []byte

	// Refusals records requests refused for whom they named (an officer
	// credential used in another's name) and lists them for the room.
	// Nil: they are refused all the same, but not recorded.
	Refusals gateway.RefusalStore

	// Retention keeps legal holds. Nil: the hold routes answer 503.
	Retention gateway.RetentionStore
	// Outbox keeps what the incident system is told. Nil: the outbox
	// routes answer 503.
	Outbox gateway.OutboxStore

	streamsMu sync.Mutex
	streams   map[string]int // open event streams by token ID
}

// NewServer returns a Server over the router and every part of the store,
// with the other fields at their defaults.
func NewServer(r Router, st gateway.Store) *Server {
	return &Server{
		Router:        r,
		Tokens:        st,
		Verifications: st,
		Orders:        st,
		Devices:       st,
		Bus:           st,
		Ops:           st,
		Refusals:      st,
		Retention:     st,
		Outbox:        st,
		Logger:        logrus.StandardLogger(),
		Now:           time.Now,
		MaxBody:       DefaultMaxBody,
		AgentWait:     DefaultAgentWait,
		SSEHeartbeat:  DefaultSSEHeartbeat,
		Health:        gateway.HealthPolicy{Stale: gateway.DefaultHeartbeatStale, BatteryFloor: gateway.DefaultBatteryFloor},
	}
}

func (s *Server) logger() logrus.FieldLogger {
	if s.Logger == nil {
		return logrus.StandardLogger()
	}
	return s.Logger
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Server) maxBody() int64 {
	if s.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return s.MaxBody
}

func (s *Server) agentWait() time.Duration {
	if s.AgentWait <= 0 {
		return DefaultAgentWait
	}
	return s.AgentWait
}

func (s *Server) sseHeartbeat() time.Duration {
	d := s.SSEHeartbeat
	if d <= 0 {
		d = DefaultSSEHeartbeat
	}
	if s.WriteTimeout > 0 {
		d = min(d, s.WriteTimeout/2)
	}
	return d
}

// openStream counts an event stream of the token; false when it would be
// over MaxStreams. closeStream undoes it.
func (s *Server) openStream(token string) bool {
	most := s.MaxStreams
	if most == 0 {
		most = DefaultMaxStreams
	}
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if most > 0 && s.streams[token] >= most {
		return false
	}
	if s.streams == nil {
		s.streams = map[string]int{}
	}
	s.streams[token]++
	return true
}

func (s *Server) closeStream(token string) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streams[token]--; s.streams[token] <= 0 {
		delete(s.streams, token)
	}
}

// extendWrite moves the connection's write deadline WriteTimeout past now
// (or past now+d), for an answer that lasts: each write of it must still
// finish in time, so a client that stops reading is let go. (The read
// deadline needs no care: net/http lifts it once the request is read.)
func (s *Server) extendWrite(rc *http.ResponseController, d time.Duration) {
	if s.WriteTimeout > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(d + s.WriteTimeout))
	} else {
		_ = rc.SetWriteDeadline(time.Time{})
	}
}

func (s *Server) drainBody() int64 { return orDefault(s.DrainBody, DefaultDrainBody) }

func (s *Server) bodyTimeout() time.Duration { return orDefault(s.BodyTimeout, DefaultBodyTimeout) }

// orDefault is a setting where zero means the default and a negative value
// none: def for 0, 0 for a negative v, else v.
func orDefault[T int64 | time.Duration](v, def T) T {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

func (s *Server) retryAfterSeconds() int {
	d := s.RetryAfter
	if d <= 0 {
		d = DefaultRetryAfter
	}
	return wholeSeconds(d)
}

// wholeSeconds is d rounded up to whole seconds, as Retry-After says it.
func wholeSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

var webhookName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Handler returns the HTTP handler of the whole API. It panics if a webhook
// or page name is not a valid path segment: that is a wiring mistake.
func (s *Server) Handler() http.Handler {
	mux := s.routes()
	return s.logRequests(s.drainRefusedBodies(s.recoverPanics(s.jsonFallback(mux.ServeMux))))
}

// Routes returns the patterns of every route Handler serves with the
// Server's settings, in the order they are registered: a webhook's or
// page's is its prefix, /webhooks/{name}/ or /join/{name}/. The tests
// compare them with the API's description.
func (s *Server) Routes() []string {
	return append([]string(nil), s.routes().patterns...)
}

// routeMux is a ServeMux that keeps the patterns registered on it.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern and keeps the pattern.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers h for pattern and keeps the pattern.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// routes registers every route of the API on a new mux.
func (s *Server) routes() *routeMux {
	const (
		officer    = gateway.RoleOfficer
		supervisor = gateway.RoleSupervisor
		ops        = gateway.RoleOps
		agent      = gateway.RoleAgent
		handler    = gateway.RoleHandler // a 999 call handler
	)
	mux := &routeMux{ServeMux: http.NewServeMux()}

	// Officer and supervisor API.
	mux.Handle("POST /v1/verifications", s.authed(s.createVerification, officer))
	mux.Handle("GET /v1/verifications/{id}", s.authed(s.getVerification, officer, supervisor, handler, ops))
	mux.Handle("GET /v1/verifications/{id}/events", s.authed(s.verificationEvents, officer, supervisor, handler, ops))
	mux.Handle("POST /v1/verifications/{id}/outcome", s.authed(s.recordOutcome, supervisor, handler))
	mux.Handle("POST /v1/verifications/{id}/receipt-message", s.authed(s.sendReceiptMessage, supervisor))
	mux.Handle("POST /v1/verifications/{id}/cancel", s.authed(s.cancelVerification, officer))
	mux.Handle("POST /v1/verifications/{id}/joined", s.authed(s.officerJoined, officer))
	mux.Handle("GET /v1/flags", s.authed(s.listFlags, supervisor, ops))
	mux.Handle("GET /v1/verifications/{id}/check", s.authed(s.verificationCheck, supervisor, handler))
	mux.Handle("POST /v1/verifications/{id}/grounds", s.authed(s.correctGrounds, supervisor, handler))
	mux.Handle("POST /v1/checks", s.authed(s.createCheck, supervisor, handler))
	mux.Handle("GET /v1/verifications/{id}/qr", s.authed(s.verificationQR, officer, supervisor, handler))
	mux.Handle("POST /v1/verifications/{id}/word-read", s.authed(s.wordRead, supervisor, handler))

	// The duty roster, for those who judge officers (photos and entries)
	// and ops.
	mux.Handle("GET /v1/roster", s.authed(s.rosterStatus, supervisor, handler, ops))
	mux.Handle("GET /v1/roster/officers/{collar}", s.authed(s.rosterEntry, supervisor, handler))
	mux.Handle("GET /v1/roster/officers/{collar}/photo", s.authed(s.rosterPhoto, supervisor, handler))

	// Device-agent protocol.
	mux.Handle("POST /v1/agent/heartbeat", s.authed(s.agentHeartbeat, agent))
	mux.Handle("GET /v1/agent/orders", s.authed(s.agentOrders, agent))
	mux.Handle("POST /v1/agent/orders/{id}/report", s.authed(s.agentReport, agent))
	mux.Handle("POST /v1/agent/calls", s.authed(s.agentRingIn, agent))
	mux.Handle("POST /v1/agent/calls/{id}/report", s.authed(s.agentCallReport, agent))

	// Ops API.
	mux.Handle("GET /v1/devices", s.authed(s.listDevices, ops))
	mux.Handle("POST /v1/devices", s.authed(s.createDevice, ops))
	mux.Handle("GET /v1/devices/{id}", s.authed(s.getDevice, ops))
	mux.Handle("PATCH /v1/devices/{id}", s.authed(s.updateDevice, ops))
	mux.Handle("POST /v1/devices/{id}/rotate", s.authed(s.rotateDevice, ops))
	mux.Handle("POST /v1/devices/{id}/out-of-service", s.authed(s.statusChange(gateway.DeviceOutOfService, gateway.OpsDeviceOut), ops))
	mux.Handle("POST /v1/devices/{id}/return", s.authed(s.statusChange(gateway.DeviceInService, gateway.OpsDeviceReturn), ops))
	mux.Handle("POST /v1/devices/{id}/retire", s.authed(s.statusChange(gateway.DeviceRetired, gateway.OpsDeviceRetire), ops))
	mux.Handle("GET /v1/devices/{id}/history", s.authed(s.deviceHistory, ops))
	mux.Handle("GET /v1/rooms", s.authed(s.listRooms, ops))
	mux.Handle("GET /v1/rooms/{id}", s.authed(s.getRoom, ops))
	mux.Handle("PATCH /v1/rooms/{id}", s.authed(s.updateRoom, ops))
	mux.Handle("GET /v1/ops-events", s.authed(s.listOpsEvents, ops))
	mux.Handle("GET /v1/verifications", s.authed(s.listVerifications, supervisor, handler, ops))
	mux.Handle("POST /v1/credentials", s.authed(s.createCredential, ops))
	mux.Handle("GET /v1/credentials", s.authed(s.listCredentials, ops))
	mux.Handle("POST /v1/credentials/{id}/revoke", s.authed(s.revokeCredential, ops))
	mux.Handle("GET /v1/refusals", s.authed(s.listRefusals, supervisor, ops))

	// Health and metrics.
	s.routeLog(mux)
	s.routeRetention(mux)
	s.routeOutbox(mux)
	s.routeFeedback(mux)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /openapi.json", s.openAPI)

	// The public's pages.
	s.routePublic(mux)
	if s.Metrics != nil && s.MetricsAuth {
		mux.Handle("GET /metrics", s.authed(func(w http.ResponseWriter, r *http.Request, _ gateway.Token) error {
			s.Metrics.ServeHTTP(w, r)
			return nil
		}, ops))
	} else if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}

	for name, h := range s.Webhooks {
		if !webhookName.MatchString(name) {
			panic(fmt.Sprintf("httpapi: invalid webhook name %q", name))
		}
		mux.Handle("/webhooks/"+name+"/", s.limitBody(s.jsonErrors(h)))
	}
	for name, h := range s.Pages {
		if !webhookName.MatchString(name) {
			panic(fmt.Sprintf("httpapi: invalid page name %q", name))
		}
		mux.Handle("/join/"+name+"/", s.limitBody(h))
	}
	if s.Console != nil {
		mux.Handle("/console", s.limitBody(s.Console))
		mux.Handle("/console/", s.limitBody(s.Console))
	}
	return mux
}

// limitBody caps a webhook's or page's body at MaxBody, and the time to
// read it at BodyTimeout; the provider's handler sees the error when it
// reads past either.
func (s *Server) limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBody() {
			s.writeError(w, r, gateway.Errorf(gateway.ETOOLARGE, "request body over %d bytes", s.maxBody()))
			return
		}
		if d := s.bodyTimeout(); d > 0 && r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody())
		h.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.logger().WithError(err).Warn("not ready")
			s.writeError(w, r, gateway.Errorf(gateway.EUNAVAILABLE, "not ready"))
			return
		}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
}

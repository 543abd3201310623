package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/sirupsen/logrus"
)

// The demo's fault control: POST /demo/faults/{provider} makes one of the
// demo's fake providers misbehave, and POST /demo/faults/store makes the
// store fail its writes, so that a person (or the fault campaign) can watch
// the gateway fail over and recover. GET /demo/faults says what is set.
// It is served only by -demo, and only to loopback addresses.

// Fault modes of a provider fake, as the control endpoint names them.
const (
	faultNone   = "none"   // behave
	faultRefuse = "refuse" // refuse connections: nothing listens on the fake's port
	faultHang   = "hang"   // accept every API request and never answer it
	fault5xx    = "5xx"    // answer every API request with a 5xx status (503 unless given)
	faultSlow   = "slow"   // answer every API request after a delay (3 s unless given)
	// The store's modes.
	faultFail = "fail" // every write fails, as on a read-only disk
)

// Defaults of a fault request's optional fields.
const (
	defaultFaultStatus = http.StatusServiceUnavailable
	defaultFaultDelay  = 3 * time.Second
	maxFaultDelay      = 5 * time.Minute
	maxFaultBody       = 4 << 10
)

// faultKnobs are the knobs every provider fake has (mocks/fault's Knobs).
type faultKnobs interface {
	SetLatency(d time.Duration)
	HangAll(on bool)
	FailAll(status int, retryAfter time.Duration)
	Reset()
}

// writeFaulter is a store that can be made to fail its writes: FailWrites
// with an error makes every later write fail with it, nil restores them.
type writeFaulter interface {
	FailWrites(err error)
}

// faultRequest is the body of POST /demo/faults/{target}.
type faultRequest struct {
	Mode       string `json:"mode"`
	Status     int    `json:"status,omitempty"`      // 5xx: the status (500-599)
	Delay      string `json:"delay,omitempty"`       // slow: how long each answer waits, a Go duration ("3s")
	RetryAfter string `json:"retry_after,omitempty"` // 5xx: a Retry-After to send, a Go duration
}

// faultView is what the control endpoint says is set for one target.
type faultView struct {
	Mode       string `json:"mode"`
	Status     int    `json:"status,omitempty"`
	Delay      string `json:"delay,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
}

// fakeServer is one of the demo's fake providers on loopback. Refusing
// closes its listener and connections; resuming listens again on the same
// address with a new server.
type fakeServer struct {
	name    string
	handler http.Handler
	knobs   faultKnobs // nil when the fake has no knobs
	addr    string

	mu      sync.Mutex
	srv     *http.Server // nil while refusing or stopped
	stopped bool
	view    faultView
}

func (s *fakeServer) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return nil
}

// refuse stops listening and drops the open connections, so that new
// requests are refused and pooled connections fail.
func (s *fakeServer) refuse() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// resume listens again on the fake's address.
func (s *fakeServer) resume() error {
	if s.srv != nil || s.stopped {
		return nil
	}
	// The port was ours a moment ago; it can take a moment to be free.
	var err error
	for range 50 {
		if err = s.listen(s.addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("listen again on %s: %w", s.addr, err)
}

func (s *fakeServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.refuse()
}

// set applies a fault request to the fake.
func (s *fakeServer) set(req faultRequest) (faultView, error) {
	view := faultView{Mode: req.Mode}
	var status int
	var delay, retryAfter time.Duration
	var err error
	switch req.Mode {
	case faultNone, faultRefuse, faultHang:
		if req.Status != 0 || req.Delay != "" || req.RetryAfter != "" {
			return faultView{}, gateway.Errorf(gateway.EINVALID, "mode %q takes no status, delay or retry_after", req.Mode)
		}
	case fault5xx:
		status = req.Status
		if status == 0 {
			status = defaultFaultStatus
		}
		if status < 500 || status > 599 {
			return faultView{}, gateway.Errorf(gateway.EINVALID, "status must be from 500 to 599")
		}
		if req.Delay != "" {
			return faultView{}, gateway.Errorf(gateway.EINVALID, "mode 5xx takes no delay")
		}
		if retryAfter, err = faultDuration("retry_after", req.RetryAfter, 0); err != nil {
			return faultView{}, err
		}
		view.Status = status
		if retryAfter > 0 {
			view.RetryAfter = retryAfter.String()
		}
	case faultSlow:
		if req.Status != 0 || req.RetryAfter != "" {
			return faultView{}, gateway.Errorf(gateway.EINVALID, "mode slow takes no status or retry_after")
		}
		if delay, err = faultDuration("delay", req.Delay, defaultFaultDelay); err != nil {
			return faultView{}, err
		}
		view.Delay = delay.String()
	default:
		return faultView{}, gateway.Errorf(gateway.EINVALID, "mode must be one of none, refuse, hang, 5xx, slow")
	}
	if s.knobs == nil && req.Mode != faultNone && req.Mode != faultRefuse {
		return faultView{}, gateway.Errorf(gateway.EINVALID, "the %s fake has no fault knobs: only refuse and none", s.name)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.knobs != nil {
		s.knobs.Reset()
	}
	switch req.Mode {
	case faultRefuse:
		s.refuse()
	case faultHang:
		s.knobs.HangAll(true)
	case fault5xx:
		s.knobs.FailAll(status, retryAfter)
	case faultSlow:
		s.knobs.SetLatency(delay)
	}
	if req.Mode != faultRefuse {
		if err := s.resume(); err != nil {
			return faultView{}, gateway.E("demo.faults", gateway.EINTERNAL, err)
		}
	}
	s.view = view
	return view, nil
}

func (s *fakeServer) current() faultView {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.view.Mode == "" {
		return faultView{Mode: faultNone}
	}
	return s.view
}

// faultDuration parses a duration field, def when empty.
func faultDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxFaultDelay {
		return 0, gateway.Errorf(gateway.EINVALID, "%s must be a duration from 0s to %s, such as \"3s\"", field, maxFaultDelay)
	}
	return d, nil
}

// demoFaults holds the demo's fake providers by name and serves the fault
// control endpoint.
type demoFaults struct {
	mu        sync.Mutex
	fakes     map[string]*fakeServer
	storeMode string
}

func newDemoFaults() *demoFaults { return &demoFaults{fakes: map[string]*fakeServer{}} }

// serve starts the fake provider h, named name for the control endpoint,
// on a loopback port, and returns its base URL and how to stop it.
func (f *demoFaults) serve(name string, h http.Handler) (string, func(), error) {
	s := &fakeServer{name: name, handler: h}
	if k, ok := h.(faultKnobs); ok {
		s.knobs = k
	}
	if err := s.listen("127.0.0.1:0"); err != nil {
		return "", nil, err
	}
	f.mu.Lock()
	f.fakes[name] = s
	f.mu.Unlock()
	return "http://" + s.addr, s.stop, nil
}

// handler serves the control endpoint under /demo/faults and passes every
// other request to next. st is the gateway's store, for store faults.
func (f *demoFaults) handler(next http.Handler, st any, log logrus.FieldLogger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/demo/faults" && !strings.HasPrefix(r.URL.Path, "/demo/faults/") {
			next.ServeHTTP(w, r)
			return
		}
		if !fromLoopback(r) {
			writeFaultError(w, http.StatusForbidden, gateway.EFORBIDDEN, "the fault controls answer only on loopback")
			return
		}
		target := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/demo/faults"), "/")
		switch {
		case target == "" && r.Method == http.MethodGet:
			writeFaultJSON(w, http.StatusOK, f.views(st))
			return
		case target == "" || strings.Contains(target, "/"):
			writeFaultError(w, http.StatusNotFound, gateway.ENOTFOUND, "no such fault control: POST /demo/faults/{provider} or /demo/faults/store")
			return
		case r.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			writeFaultError(w, http.StatusMethodNotAllowed, gateway.EINVALID, "faults are set with POST")
			return
		}
		req, err := decodeFault(r)
		if err != nil {
			writeFaultError(w, statusOf(err), gateway.ErrorCode(err), gateway.ErrorMessage(err))
			return
		}
		var view faultView
		if target == "store" {
			view, err = f.setStore(st, req)
		} else {
			f.mu.Lock()
			s := f.fakes[target]
			f.mu.Unlock()
			if s == nil {
				writeFaultError(w, http.StatusNotFound, gateway.ENOTFOUND,
					fmt.Sprintf("no fake provider %q (there are %s, and store)", target, strings.Join(f.names(), ", ")))
				return
			}
			view, err = s.set(req)
		}
		var unsupported *unsupportedError
		switch {
		case errors.As(err, &unsupported):
			writeFaultError(w, http.StatusNotImplemented, gateway.EUNAVAILABLE, unsupported.msg)
			return
		case err != nil:
			writeFaultError(w, statusOf(err), gateway.ErrorCode(err), gateway.ErrorMessage(err))
			return
		}
		log.WithFields(logrus.Fields{"target": target, "mode": view.Mode}).Warn("demo fault set")
		writeFaultJSON(w, http.StatusOK, map[string]faultView{target: view})
	})
}

// unsupportedError is a fault the gateway's parts cannot be made to show.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }

func (f *demoFaults) setStore(st any, req faultRequest) (faultView, error) {
	if req.Status != 0 || req.Delay != "" || req.RetryAfter != "" {
		return faultView{}, gateway.Errorf(gateway.EINVALID, "the store's modes take no status, delay or retry_after")
	}
	if req.Mode != faultNone && req.Mode != faultFail {
		return faultView{}, gateway.Errorf(gateway.EINVALID, "the store's mode must be fail or none")
	}
	fw, ok := st.(writeFaulter)
	if !ok {
		return faultView{}, &unsupportedError{msg: "this store cannot be made to fail its writes"}
	}
	if req.Mode == faultFail {
		fw.FailWrites(fmt.Errorf("demo fault: every write fails: %w", syscall.EROFS))
	} else {
		fw.FailWrites(nil)
	}
	f.mu.Lock()
	f.storeMode = req.Mode
	f.mu.Unlock()
	return faultView{Mode: req.Mode}, nil
}

func (f *demoFaults) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.fakes))
	for n := range f.fakes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (f *demoFaults) views(st any) map[string]faultView {
	out := map[string]faultView{}
	for _, n := range f.names() {
		f.mu.Lock()
		s := f.fakes[n]
		f.mu.Unlock()
		out[n] = s.current()
	}
	if _, ok := st.(writeFaulter); ok {
		f.mu.Lock()
		mode := f.storeMode
		f.mu.Unlock()
		if mode == "" {
			mode = faultNone
		}
		out["store"] = faultView{Mode: mode}
	}
	return out
}

// fromLoopback reports whether the request came from a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// decodeFault reads a fault request strictly: one JSON object, known
// fields, under maxFaultBody. The Content-Type is not checked, so that
// curl -d works as typed.
func decodeFault(r *http.Request) (faultRequest, error) {
	var req faultRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFaultBody+1))
	if err != nil {
		return req, gateway.Errorf(gateway.EINVALID, "could not read the body")
	}
	if len(body) > maxFaultBody {
		return req, gateway.Errorf(gateway.ETOOLARGE, "a fault request is at most %d bytes", maxFaultBody)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, gateway.Errorf(gateway.EINVALID, `the body must be {"mode":"refuse|hang|5xx|slow|none"} (store: "fail|none"): %v`, err)
	}
	if dec.More() {
		return req, gateway.Errorf(gateway.EINVALID, "the body must be one JSON object")
	}
	if !slices.Contains([]string{faultNone, faultRefuse, faultHang, fault5xx, faultSlow, faultFail}, req.Mode) {
		return req, gateway.Errorf(gateway.EINVALID, "mode must be one of none, refuse, hang, 5xx, slow (providers) or fail, none (store)")
	}
	return req, nil
}

func statusOf(err error) int { return httpapi.StatusOf(gateway.ErrorCode(err)) }

func writeFaultJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeFaultError(w http.ResponseWriter, status int, code, msg string) {
	var body httpapi.ErrorBody
	body.Error.Code, body.Error.Message = code, msg
	writeFaultJSON(w, status, body)
}

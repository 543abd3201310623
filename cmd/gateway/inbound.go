package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/adapters/pstn"
	"github.com/safeconnection/gateway/config"
	faketwilio "github.com/safeconnection/gateway/mocks/twilio"
)

// callerKeyFile is where the key of the callers' hashes is generated when
// GATEWAY_CALLER_KEY is not set.
const callerKeyFile = "caller.key"

// callerKey is GATEWAY_CALLER_KEY, else the key in the data directory's
// caller.key, generated there (32 random bytes, hex, mode 0600) the first
// time.
func callerKey(cfg config.Config) ([]byte, error) {
	if cfg.CallerKey != "" {
		return []byte(cfg.CallerKey), nil
	}
	path := filepath.Join(cfg.DataDir, callerKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if k := strings.TrimSpace(string(b)); len(k) >= 32 {
			return []byte(k), nil
		}
		return nil, fmt.Errorf("caller key %s: shorter than 32 characters; remove it to generate another, or set GATEWAY_CALLER_KEY", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("caller key: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	k := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("caller key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return callerKey(cfg) // another process wrote it first
	}
	if err != nil {
		return nil, fmt.Errorf("caller key: %w", err)
	}
	if _, err := io.WriteString(f, k+"\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("caller key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("caller key: %w", err)
	}
	return []byte(k), nil
}

// demoCaller is the number a member of the public calls from in the demo
// (Ofcom's range for drama).
const demoCaller = "+447700900999"

// demoTalk is how long the demo's caller talks to the ops room before she
// hangs up.
const demoTalk = 20 * time.Second

// callRoomPath: POST /demo/call-room/{room} makes the demo's fake Twilio
// place a call from the public to the room's published number.
const callRoomPath = "/demo/call-room/"

var roomID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// callRoomView is the answer of POST /demo/call-room/{room}.
type callRoomView struct {
	Call         string   `json:"call"`
	Verification string   `json:"verification,omitempty"`
	Reference    string   `json:"reference,omitempty"`
	State        string   `json:"state,omitempty"`
	Said         []string `json:"said"`
	Bridged      bool     `json:"bridged"`
}

// callRooms serves POST /demo/call-room/{room} (loopback only) and passes
// every other request to next: the fake Twilio calls the room's number
// from demoCaller, and the answer says, once a device answered or she was
// queued, which verification the call is. She hangs up demoTalk after
// being put through.
func (d *demo) callRooms(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, callRoomPath) {
			next.ServeHTTP(w, r)
			return
		}
		if !fromLoopback(r) {
			writeFaultError(w, http.StatusForbidden, gateway.EFORBIDDEN, "the demo's calls answer only on loopback")
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeFaultError(w, http.StatusMethodNotAllowed, gateway.EINVALID, "a call is placed with POST")
			return
		}
		id := strings.ToUpper(strings.TrimPrefix(r.URL.Path, callRoomPath))
		room, ok := d.m.Rooms.Room(id)
		if !roomID.MatchString(id) || !ok || d.twilio == nil {
			writeFaultError(w, http.StatusNotFound, gateway.ENOTFOUND, "no operations room "+fmt.Sprintf("%.16q", id))
			return
		}
		view, err := d.callRoom(r.Context(), room)
		if err != nil {
			writeFaultError(w, http.StatusBadGateway, gateway.EUNAVAILABLE, "the call did not go through: "+err.Error())
			return
		}
		writeFaultJSON(w, http.StatusCreated, view)
	})
}

// callRoom places the call and waits (10 s at most) for it to be put
// through or queued.
func (d *demo) callRoom(ctx context.Context, room gateway.Room) (callRoomView, error) {
	start := time.Now()
	c, err := d.twilio.CallIn(ctx, demoCaller, room.Number)
	if err != nil {
		return callRoomView{}, err
	}
	deadline := time.Now().Add(10 * time.Second)
	var v gateway.Verification
	for time.Now().Before(deadline) {
		vs, err := d.m.Store.Verifications(ctx, gateway.VerificationFilter{RoomID: room.ID, Since: start.Add(-time.Second)})
		if err != nil {
			return callRoomView{}, err
		}
		for _, x := range vs {
			if x.Origin == gateway.OriginPublic && x.RequestedBy == "public:"+room.ID {
				v = x
			}
		}
		if c.Bridged() != "" || v.State == gateway.StateQueued || (v.ID != "" && !v.State.Live()) || c.Status() == "completed" {
			break
		}
		select {
		case <-ctx.Done():
			return callRoomView{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	go func() {
		// She talks to the ops room a while, then hangs up.
		for c.Bridged() == "" {
			select {
			case <-c.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		select {
		case <-c.Done():
		case <-time.After(demoTalk):
			c.HangUp()
		}
	}()
	return callRoomView{Call: c.SID, Verification: v.ID, Reference: v.Reference, State: string(v.State),
		Said: c.Said(), Bridged: c.Bridged() != ""}, nil
}

// demoVoiceURL points the fake Twilio's numbers at the gateway.
func demoVoiceURL(f *faketwilio.Fake, public string) { f.SetVoiceURL(public + pstn.PathInbound) }

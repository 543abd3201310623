package twilio

import (
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
)

// SDKPath is where the fake serves its fake of the Twilio Video JavaScript
// SDK, as Twilio's CDN serves the real one (any release number is served
// the same fake).
const SDKPath = "/js/video/releases/2.36.0/twilio-video.min.js"

// The fake SDK's endpoints: the fake's own, with no counterpart at Twilio
// (the real SDK speaks to Twilio's signalling servers over WebSockets).
// Each takes a JSON body {"token": access token, "room": name or SID} and
// allows any origin (the page is the gateway's, the SDK the fake's).
const (
	// PathConnect joins a room: the token must be signed with APIKeySecret
	// by APIKeySID for AccountSID, be within its nbf and exp, and grant an
	// identity the room, which must be in progress with room for one more.
	// The answer is {"room":{"sid","name"},"participant":{"sid","identity"},
	// "participants":[the others]}, and the room's participant-connected
	// callback follows; a refusal is a Twilio error body ({"code",
	// "message",...}) with the code the real SDK would reject with.
	PathConnect = "/fake/video/connect"
	// PathPoll answers {"status":"in-progress"|"completed","participants":
	// [the others]}: the fake SDK polls it to learn of the other side and
	// of the room's end.
	PathPoll = "/fake/video/poll"
	// PathDisconnect leaves the room: participant-disconnected follows.
	PathDisconnect = "/fake/video/disconnect"
)

// sdkPath matches the paths of the SDK's releases.
var sdkPath = regexp.MustCompile(`^/js/video/releases/[0-9][0-9A-Za-z.-]*/twilio-video(\.min)?\.js$`)

//go:embed sdk/twilio-video.js
var fakeSDK []byte

// Connect is one join through the fake SDK, as recorded.
type Connect struct {
	Identity string // the token's identity ("" when it did not check out)
	Room     string // the room asked for (its name, as the page gave it)
	RoomSID  string // the room joined; "" when refused
	Code     int    // Twilio's error code when refused; 0 when joined
	At       time.Time
}

// Connects returns the joins through the fake SDK so far, oldest first.
func (f *Fake) Connects() []Connect {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Connect(nil), f.connects...)
}

// serveBrowser serves the fake SDK and its endpoints; it reports whether
// the request was one of theirs.
func (f *Fake) serveBrowser(w http.ResponseWriter, r *http.Request) bool {
	switch p := r.URL.Path; {
	case sdkPath.MatchString(p):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed", 0)
			return true
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodGet {
			_, _ = w.Write(fakeSDK)
		}
		return true
	case p == PathConnect || p == PathPoll || p == PathDisconnect:
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		h.Set("Cache-Control", "no-store")
		switch r.Method {
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPost:
			f.serveSDKCall(w, r)
		default:
			h.Set("Allow", "POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed", 0)
		}
		return true
	}
	return false
}

// sdkRefusal is a join the fake refuses, as the SDK's TwilioError.
type sdkRefusal struct {
	status, code int
	msg          string
}

func (e *sdkRefusal) Error() string { return e.msg }

// Twilio's access-token and room errors, as the real SDK rejects with them.
func tokenInvalid() error { return &sdkRefusal{http.StatusUnauthorized, 20101, "Invalid Access Token"} }
func issuerInvalid() error {
	return &sdkRefusal{http.StatusUnauthorized, 20103, "Invalid Access Token issuer/subject"}
}
func tokenExpired() error {
	return &sdkRefusal{http.StatusUnauthorized, 20104, "Access Token expired or expiration date invalid"}
}
func notYetValid() error {
	return &sdkRefusal{http.StatusUnauthorized, 20105, "Access Token not yet valid"}
}
func grantsInvalid() error {
	return &sdkRefusal{http.StatusForbidden, 20106, "Invalid Access Token grants"}
}
func badSignature() error {
	return &sdkRefusal{http.StatusUnauthorized, 20107, "Invalid Access Token signature"}
}
func roomFull() error {
	return &sdkRefusal{http.StatusBadRequest, 53105, "Room contains too many Participants"}
}
func roomNotFound() error    { return &sdkRefusal{http.StatusNotFound, 53106, "Room not found"} }
func roomCompleted() error   { return &sdkRefusal{http.StatusBadRequest, 53118, "Room completed"} }
func participantGone() error { return &sdkRefusal{http.StatusNotFound, 53204, "Participant not found"} }

// grant is what a checked access token grants.
type grant struct {
	identity, room string
}

// checkToken checks an access token as Twilio's signalling servers do.
func (f *Fake) checkToken(raw string) (grant, error) {
	if f.APIKeySecret == "" || raw == "" || len(raw) > 16<<10 {
		return grant{}, tokenInvalid()
	}
	var claims struct {
		Grants struct {
			Identity string `json:"identity"`
			Video    *struct {
				Room string `json:"room"`
			} `json:"video"`
		} `json:"grants"`
		gojwt.RegisteredClaims
	}
	_, err := gojwt.ParseWithClaims(raw, &claims, func(*gojwt.Token) (any, error) { return []byte(f.APIKeySecret), nil },
		gojwt.WithValidMethods([]string{"HS256"}), gojwt.WithExpirationRequired(), gojwt.WithTimeFunc(f.now))
	switch {
	case errors.Is(err, gojwt.ErrTokenSignatureInvalid):
		return grant{}, badSignature()
	case errors.Is(err, gojwt.ErrTokenExpired):
		return grant{}, tokenExpired()
	case errors.Is(err, gojwt.ErrTokenNotValidYet):
		return grant{}, notYetValid()
	case err != nil:
		return grant{}, tokenInvalid()
	case claims.Issuer != f.APIKeySID || claims.Subject != f.AccountSID:
		return grant{}, issuerInvalid()
	case claims.Grants.Identity == "" || claims.Grants.Video == nil:
		return grant{}, grantsInvalid()
	}
	return grant{identity: claims.Grants.Identity, room: claims.Grants.Video.Room}, nil
}

// sdkRequest is the body of the fake SDK's calls.
type sdkRequest struct {
	Token string `json:"token"`
	Room  string `json:"room"`
}

// participantJSON is a participant in the fake SDK's answers.
type participantJSON struct {
	SID      string `json:"sid"`
	Identity string `json:"identity"`
}

func (f *Fake) serveSDKCall(w http.ResponseWriter, r *http.Request) {
	var in sdkRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || json.Unmarshal(body, &in) != nil {
		writeJSON(w, http.StatusBadRequest, twilioError(http.StatusBadRequest, 53000, "Malformed request"))
		return
	}
	var status int
	var out any
	switch r.URL.Path {
	case PathConnect:
		status, out, err = f.connect(in)
	case PathPoll:
		status, out, err = f.poll(in)
	default:
		status, out, err = f.disconnect(in)
	}
	var refused *sdkRefusal
	if errors.As(err, &refused) {
		writeJSON(w, refused.status, twilioError(refused.status, refused.code, refused.msg))
		return
	}
	writeJSON(w, status, out)
}

// connect joins a room for a checked token and posts the room's
// participant-connected callback.
func (f *Fake) connect(in sdkRequest) (int, any, error) {
	rec := Connect{Room: in.Room, At: f.now()}
	g, err := f.checkToken(in.Token)
	if err == nil {
		rec.Identity = g.identity
	}
	f.mu.Lock()
	var rm *room
	if err == nil {
		rm, err = f.roomFor(g, in.Room)
	}
	var self string
	var others []participantJSON
	if err == nil {
		if _, present := rm.participants[g.identity]; !present && len(rm.participants) >= rm.maxParticipants {
			err = roomFull()
		}
	}
	if err == nil {
		// As at Twilio, a second connection with the same identity takes
		// the first one's place.
		self = newSID("PA")
		rm.participants[g.identity] = self
		others = othersIn(rm, g.identity)
		rec.RoomSID = rm.sid
	}
	var refused *sdkRefusal
	if errors.As(err, &refused) {
		rec.Code = refused.code
	}
	f.connects = append(f.connects, rec)
	f.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	f.life.Go(func() {
		f.roomEvent(rm, "participant-connected", g.identity, "ParticipantSid", self, "ParticipantStatus", "connected")
	})
	return http.StatusOK, map[string]any{
		"room":         map[string]string{"sid": rm.sid, "name": rm.uniqueName},
		"participant":  participantJSON{SID: self, Identity: g.identity},
		"participants": others,
	}, nil
}

// poll tells a joined participant the room's status and the others in it.
func (f *Fake) poll(in sdkRequest) (int, any, error) {
	g, err := f.checkToken(in.Token)
	if err != nil {
		return 0, nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rm, ok := f.rooms[in.Room]
	if !ok || rm.uniqueName != g.room {
		return 0, nil, roomNotFound()
	}
	return http.StatusOK, map[string]any{"status": rm.status, "participants": othersIn(rm, g.identity)}, nil
}

// disconnect takes a participant out of the room and posts its
// participant-disconnected callback.
func (f *Fake) disconnect(in sdkRequest) (int, any, error) {
	g, err := f.checkToken(in.Token)
	if err != nil {
		return 0, nil, err
	}
	f.mu.Lock()
	rm, ok := f.rooms[in.Room]
	if !ok || rm.uniqueName != g.room {
		f.mu.Unlock()
		return 0, nil, roomNotFound()
	}
	sid, present := rm.participants[g.identity]
	delete(rm.participants, g.identity)
	live := rm.status == "in-progress"
	f.mu.Unlock()
	if !present {
		return 0, nil, participantGone()
	}
	if live {
		f.life.Go(func() {
			f.roomEvent(rm, "participant-disconnected", g.identity, "ParticipantSid", sid, "ParticipantStatus", "disconnected")
		})
	}
	return http.StatusOK, map[string]string{"status": "disconnected"}, nil
}

// roomFor finds the room a grant lets its holder join under the name asked
// for (the grant's room when none is asked for). f.mu must be held.
func (f *Fake) roomFor(g grant, name string) (*room, error) {
	if name == "" {
		name = g.room
	}
	if g.room != "" && g.room != name {
		return nil, grantsInvalid()
	}
	if rm, ok := f.findRoom(name); ok {
		if rm.status != "in-progress" {
			return nil, roomCompleted()
		}
		return rm, nil
	}
	for _, rm := range f.rooms {
		if rm.uniqueName == name {
			return nil, roomCompleted()
		}
	}
	return nil, roomNotFound()
}

// othersIn lists the room's participants but identity. f.mu must be held.
func othersIn(rm *room, identity string) []participantJSON {
	out := []participantJSON{}
	for who, sid := range rm.participants {
		if who != identity {
			out = append(out, participantJSON{SID: sid, Identity: who})
		}
	}
	return out
}

// join records that identity connected to the room and returns its new
// participant SID.
func (f *Fake) join(r *room, identity string) string {
	sid := newSID("PA")
	f.mu.Lock()
	defer f.mu.Unlock()
	r.participants[identity] = sid
	return sid
}

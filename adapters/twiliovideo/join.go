package twiliovideo

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/safeconnection/gateway/adapters/twiliohook"
)

// DefaultSDKURL is where the join page loads the Twilio Video JavaScript
// SDK from by default: Twilio's CDN, at a pinned release.
const DefaultSDKURL = twiliohook.DefaultSDKURL

// PathJoin is where the join links point, under the gateway's public URL:
// PathJoin + attempt ID + "?token=" + access token. JoinPage serves it.
const PathJoin = "/join/webrtc/"

// TokenLeeway is the clock skew allowed when a join link's token is
// checked against its nbf and exp.
const TokenLeeway = 30 * time.Second

// maxToken bounds the token a join link may carry; the adapter's are under
// 1 KiB.
const maxToken = 4 << 10

// pathAssets is where the page's own script and stylesheet are, under
// PathJoin.
const pathAssets = "assets/"

//go:embed join/head.html join/join.html join/error.html join/join.js join/join.css
var joinFiles embed.FS

var (
	joinTemplate  = template.Must(template.ParseFS(joinFiles, "join/join.html", "join/head.html"))
	errorTemplate = template.Must(template.ParseFS(joinFiles, "join/error.html", "join/head.html"))
	assets        = loadAssets()
)

// asset is one embedded file the page loads, with its ETag.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func loadAssets() map[string]asset {
	out := map[string]asset{}
	for name, ct := range map[string]string{"join.js": "text/javascript; charset=utf-8", "join.css": "text/css; charset=utf-8"} {
		b, err := joinFiles.ReadFile("join/" + name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[name] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// joinGrant is what a valid join link grants: an identity in a room.
type joinGrant struct {
	Room     string
	Identity string
}

// accessClaims are the claims of a Twilio access token that the page reads.
type accessClaims struct {
	Grants struct {
		Identity string `json:"identity"`
		Video    *struct {
			Room string `json:"room"`
		} `json:"video"`
	} `json:"grants"`
	gojwt.RegisteredClaims
}

// The reasons a join link is refused. They are logged, never shown.
var (
	errNoToken    = errors.New("no token")
	errBadToken   = errors.New("bad token")
	errWrongRoom  = errors.New("token for another room")
	errNoIdentity = errors.New("token for an identity the gateway does not mint")
)

// checkToken verifies a join link's token: signed with HS256 by the API
// key's secret, issued by the API key for the account, within its nbf and
// exp (give or take TokenLeeway), granting one of the gateway's identities
// the video room named for attempt.
func (a *Adapter) checkToken(attempt, raw string) (joinGrant, error) {
	if raw == "" {
		return joinGrant{}, errNoToken
	}
	if len(raw) > maxToken || a.APIKeySecret == "" || a.APIKeySID == "" {
		return joinGrant{}, errBadToken
	}
	var claims accessClaims
	_, err := gojwt.ParseWithClaims(raw, &claims, func(*gojwt.Token) (any, error) { return []byte(a.APIKeySecret), nil },
		gojwt.WithValidMethods([]string{"HS256"}),
		gojwt.WithIssuer(a.APIKeySID),
		gojwt.WithSubject(a.AccountSID),
		gojwt.WithExpirationRequired(),
		gojwt.WithLeeway(TokenLeeway),
		gojwt.WithTimeFunc(a.now),
	)
	if err != nil {
		return joinGrant{}, errors.Join(errBadToken, err)
	}
	v := claims.Grants.Video
	if v == nil || v.Room == "" || v.Room != attempt {
		return joinGrant{}, errWrongRoom
	}
	switch claims.Grants.Identity {
	case PartyOfficer, PartyDevice:
	default:
		return joinGrant{}, errNoIdentity
	}
	return joinGrant{Room: v.Room, Identity: claims.Grants.Identity}, nil
}

// JoinPage returns the handler of the join links, to mount at PathJoin
// without stripping the prefix. GET (or HEAD) PathJoin + attempt ID +
// "?token=..." checks the token (see checkToken) and serves the page that
// joins the Twilio Video room in the browser: it loads the SDK from SDKURL
// and the page's own script from PathJoin + "assets/", connects with the
// token, shows the camera's preview and the other side, and says how the
// call goes. A link without a token is answered 400, one whose token does
// not check out 403, with a plain page that asks for a new link and says
// nothing of why. Other methods are 405.
//
// Every answer forbids caching and referrers (the URL holds a token) and
// has a Content-Security-Policy that allows scripts only from the gateway
// and the SDK's origin and no inline script or style.
func (a *Adapter) JoinPage() http.Handler { return http.HandlerFunc(a.serveJoin) }

func (a *Adapter) serveJoin(w http.ResponseWriter, r *http.Request) {
	a.joinHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		a.joinError(w, r, http.StatusMethodNotAllowed, "This address only opens video calls.")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, PathJoin)
	if !ok {
		a.joinError(w, r, http.StatusNotFound, msgBadLink)
		return
	}
	if name, ok := strings.CutPrefix(rest, pathAssets); ok {
		a.serveAsset(w, r, name)
		return
	}
	if !twiliohook.AttemptID.MatchString(rest) {
		a.joinError(w, r, http.StatusNotFound, msgBadLink)
		return
	}
	log := a.log().WithField("attempt", rest)
	g, err := a.checkToken(rest, r.URL.Query().Get("token"))
	switch {
	case errors.Is(err, errNoToken):
		log.Info("join link without a token")
		a.joinError(w, r, http.StatusBadRequest, msgBadLink)
		return
	case err != nil:
		log.WithError(err).Warn("join link refused")
		a.joinError(w, r, http.StatusForbidden, msgBadLink)
		return
	}
	page := joinPage{
		Title: "Video call with the operations room", Peer: "operations room",
		Token: r.URL.Query().Get("token"), Room: g.Room, Identity: g.Identity,
		SDKURL: a.sdkURL(), Assets: a.assetBase(),
	}
	if g.Identity == PartyDevice {
		page.Title, page.Peer = "Video call with the officer", "officer"
	}
	var buf bytes.Buffer
	if err := joinTemplate.Execute(&buf, page); err != nil {
		log.WithError(err).Error("join page template")
		a.joinError(w, r, http.StatusServiceUnavailable, "The video call page could not be shown. Please try again.")
		return
	}
	log.WithField("party", g.Identity).Info("join page served")
	writeHTML(w, r, http.StatusOK, buf.Bytes())
}

// msgBadLink is all a refused join link is told.
const msgBadLink = "This link is not valid or has expired."

// joinPage is the data of join/join.html.
type joinPage struct {
	Title, Peer    string
	Token, Room    string
	Identity       string
	SDKURL, Assets string
}

// errorPage is the data of join/error.html.
type errorPage struct {
	Title   string
	Message string
	Assets  string
}

func (a *Adapter) joinError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var buf bytes.Buffer
	if err := errorTemplate.Execute(&buf, errorPage{Title: "Link not valid", Message: msg, Assets: a.assetBase()}); err != nil {
		buf.Reset()
		buf.WriteString(template.HTMLEscapeString(msg))
	}
	writeHTML(w, r, status, buf.Bytes())
}

func writeHTML(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func (a *Adapter) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := assets[name]
	if !ok {
		a.joinError(w, r, http.StatusNotFound, msgBadLink)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// joinHeaders sets the headers of every answer under PathJoin.
func (a *Adapter) joinHeaders(h http.Header) {
	sdk := origin(a.sdkURL())
	h.Set("Content-Security-Policy", strings.Join([]string{
		"default-src 'none'",
		"script-src 'self' " + sdk,
		"style-src 'self'",
		"img-src 'self' data: blob:",
		"media-src 'self' blob: mediastream:",
		// The page talks to the gateway and the SDK's origin; the SDK
		// itself talks to Twilio: signalling at wss://global.vss.twilio.com,
		// configuration at https://ecs.us1.twilio.com, insights at
		// wss://sdkgw.us1.twilio.com and region-specific hosts like them,
		// all under twilio.com (Twilio's network connectivity
		// requirements for Video). Nothing else.
		"connect-src 'self' " + sdk + " https://*.twilio.com wss://*.twilio.com",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; "))
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
}

func (a *Adapter) sdkURL() string {
	if a.SDKURL == "" {
		return DefaultSDKURL
	}
	return a.SDKURL
}

// assetBase is the path of the page's own files: under PublicURL's path, so
// that a gateway behind a path prefix still finds them.
func (a *Adapter) assetBase() string {
	prefix := ""
	if u, err := url.Parse(a.public()); err == nil {
		prefix = strings.TrimSuffix(u.Path, "/")
	}
	return prefix + PathJoin + pathAssets
}

// origin returns the scheme://host[:port] of an absolute http(s) URL as a
// CSP source, or "" for anything else.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(u.Host, " ;'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

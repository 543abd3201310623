package config

import (
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"regexp"
)

// Validate returns an *Error naming every missing or bad setting, or nil.
// Without demo, GATEWAY_PUBLIC_URL is required; with it (every provider
// simulated) it may be empty. Either way a provider section with some but
// not all of its credentials is an error naming the missing ones, and every
// value set must make sense.
func (c Config) Validate(demo bool) error {
	var p problems
	v := func(name string) string { return Prefix + "_" + name }

	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		p.add(v("ADDR"), "%q is not host:port", c.Addr)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add(v("ADDR"), "port %q is not a number from 0 to 65535", port)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		p.add(v("DATA_DIR"), "empty: give a directory")
	}
	if msg := checkStore(c.Store); msg != "" {
		p.add(v("STORE"), "%s", msg)
	}
	switch {
	case c.PublicURL == "" && !demo:
		p.add(v("PUBLIC_URL"), "required: the https URL providers and device agents reach the gateway at")
	case c.PublicURL != "":
		if msg := checkPublicURL(c.PublicURL); msg != "" {
			p.add(v("PUBLIC_URL"), "%s", msg)
		}
	}
	p.webhook("INCIDENT", c.IncidentURL, c.IncidentSecret, "the incident system")
	if c.StandardsURL != "" && c.IncidentURL == "" {
		p.add(v("STANDARDS_URL"), "needs GATEWAY_INCIDENT_URL: misconduct reports go through the incident system's outbox")
	} else {
		p.webhook("STANDARDS", c.StandardsURL, c.StandardsSecret, "professional standards")
	}
	if c.Instance != "" && (len(c.Instance) > 64 || strings.IndexFunc(c.Instance, notNameRune) >= 0) {
		p.add(v("INSTANCE"), "%q must be at most 64 printable characters without spaces", c.Instance)
	}
	if !logLevels[strings.ToLower(c.LogLevel)] {
		p.add(v("LOG_LEVEL"), "%q is not a level: trace, debug, info, warn, error, fatal or panic", c.LogLevel)
	}

	positive := []struct {
		name string
		d    time.Duration
	}{
		{"RING_TIMEOUT", c.RingTimeout}, {"BUDGET", c.Budget}, {"LEASE_TTL", c.LeaseTTL},
		{"HEARTBEAT_STALE", c.HeartbeatStale}, {"SWEEP_INTERVAL", c.SweepInterval},
		{"RETRY_MIN", c.RetryMin}, {"RETRY_MAX", c.RetryMax}, {"MAX_CALL", c.MaxCall},
		{"OWNER_TTL", c.OwnerTTL}, {"BREAKER_COOLDOWN", c.BreakerCooldown},
		{"REPORT_GRACE", c.ReportGrace}, {"CONSOLE_SESSION", c.ConsoleSession}, {"LIVE_AFTER", c.LiveAfter},
		{"LOG_SEQUENCE_INTERVAL", c.LogSequence}, {"LOG_CHECKPOINT_INTERVAL", c.LogCheckpoint},
		{"INCIDENT_RETRY_FOR", c.IncidentRetryFor},
		{"RETENTION_INTERVAL", c.RetentionInterval},
	}
	bad := make(map[string]bool)
	for _, d := range positive {
		if d.d <= 0 {
			p.add(v(d.name), "%s is not a positive duration", d.d)
			bad[d.name] = true
		}
	}
	if !bad["RETRY_MIN"] && !bad["RETRY_MAX"] && c.RetryMin > c.RetryMax {
		p.add(v("RETRY_MIN"), "%s is more than GATEWAY_RETRY_MAX (%s)", c.RetryMin, c.RetryMax)
	}
	if !bad["RING_TIMEOUT"] && !bad["BUDGET"] && c.RingTimeout > c.Budget {
		p.add(v("RING_TIMEOUT"), "%s is more than the whole GATEWAY_BUDGET (%s)", c.RingTimeout, c.Budget)
	}
	if !bad["SWEEP_INTERVAL"] && !bad["LEASE_TTL"] && c.SweepInterval >= c.LeaseTTL {
		p.add(v("SWEEP_INTERVAL"), "%s is not less than GATEWAY_LEASE_TTL (%s): expired claims would wait too long", c.SweepInterval, c.LeaseTTL)
	}
	if c.RetentionPersonal < 0 {
		p.add(v("RETENTION_PERSONAL"), "%s is negative (0 keeps personal fields for ever)", c.RetentionPersonal)
	}
	if c.DeviceBatteryFloor < 0 || c.DeviceBatteryFloor > 100 {
		p.add(v("DEVICE_BATTERY_FLOOR"), "%d is not a percentage from 0 to 100", c.DeviceBatteryFloor)
	}
	if c.DeskCalls < 1 || c.DeskCalls > 1000 {
		p.add(v("DESK_CALLS"), "%d is not between 1 and 1000", c.DeskCalls)
	}
	if c.MaxBody < 1024 || c.MaxBody > 64<<20 {
		p.add(v("MAX_BODY"), "%d bytes is not between 1024 and 67108864", c.MaxBody)
	}
	c.validatePublic(&p)
	if k := strings.TrimSpace(c.LogKey); k != "" && (!strings.HasPrefix(k, "PRIVATE+KEY+") || strings.Count(k, "+") != 4) {
		p.add(v("LOG_KEY"), "is not a signer key: it is PRIVATE+KEY+origin+hash+key, as `gateway log-key -new ORIGIN` writes it")
	}
	if c.BreakerFailures < 1 || c.BreakerFailures > 1<<20 {
		p.add(v("BREAKER_FAILURES"), "%d is not between 1 and 1048576", c.BreakerFailures)
	}

	c.validateServer(&p)
	c.validateSections(&p)
	return p.err()
}

var logLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "warning": true, "error": true, "fatal": true, "panic": true}

// credentials returns the names (after the section prefix) of a section's
// credential fields that are set and of those that are missing.
func credentials(section any) (set, missing []string) {
	v := reflect.ValueOf(section)
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("credential") != "true" {
			continue
		}
		if v.Field(i).String() != "" {
			set = append(set, f.Tag.Get("envconfig"))
		} else {
			missing = append(missing, f.Tag.Get("envconfig"))
		}
	}
	return set, missing
}

func notNameRune(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }

// checkStore returns what is wrong with a GATEWAY_STORE value, or "". The
// value may hold a password: the message never repeats it.
func checkStore(s string) string {
	if s == "" || !strings.Contains(s, "://") {
		if strings.TrimSpace(s) != s {
			return "the path has leading or trailing spaces"
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "not a valid URL"
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "scheme " + strconv.Quote(u.Scheme) + " is not a store: give a file path for SQLite or a postgres:// URL"
	}
	return ""
}

// checkPublicURL returns what is wrong with the public URL, or "": a
// secure URL (checkSecureURL) without a query or fragment, since webhook
// URLs are built on it.
func checkPublicURL(s string) string {
	if msg := checkSecureURL(s); msg != "" {
		return msg
	}
	if u, _ := url.Parse(s); u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "must not have a query or fragment: webhook URLs are built on it"
	}
	return ""
}

// checkSecureURL returns what is wrong with a URL the gateway is reached
// at or tells things to, or "": absolute, https (http on loopback only),
// and no user name or password in it. The incident system's endpoint is
// one (GATEWAY_INCIDENT_SECRET signs what it is sent).
func checkSecureURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return strconv.Quote(s) + " is not an absolute URL"
	case u.User != nil:
		return "must not hold a user name or password"
	case u.Scheme == "https", u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return strconv.Quote(s) + " must be https (http is allowed on loopback only)"
	}
	return strconv.Quote(s) + " must be an https URL"
}

// checkProviderURL returns what is wrong with a provider's base URL, or "".
func checkProviderURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return strconv.Quote(s) + " is not an absolute http or https URL"
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validatePublic checks the settings of the public's pages.
func (c Config) validatePublic(p *problems) {
	v := func(name string) string { return Prefix + "_" + name }
	if n := strings.TrimSpace(c.ForceName); n == "" || len(n) > 80 {
		p.add(v("FORCE_NAME"), "give the force's name, at most 80 characters")
	}
	if !regexp.MustCompile(`^[A-Za-z]{2}$`).MatchString(c.NumberRegion) {
		p.add(v("NUMBER_REGION"), "%q is not a two-letter region code such as GB", c.NumberRegion)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		p.add(v("TIME_ZONE"), "%q is not a time zone such as Europe/London", c.TimeZone)
	}
	if c.PublicRate < 0 || c.PublicRate > 1000000 {
		p.add(v("PUBLIC_RATE"), "%d is not between 0 and 1000000 a minute", c.PublicRate)
	}
	if c.PublicRate > 0 && (c.PublicBurst < 1 || c.PublicBurst > 10000) {
		p.add(v("PUBLIC_BURST"), "%d is not between 1 and 10000", c.PublicBurst)
	}
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if _, err := netip.ParsePrefix(f); err != nil {
			if _, err := netip.ParseAddr(f); err != nil {
				p.add(v("TRUSTED_PROXIES"), "%q is not an address or a CIDR network", f)
			}
		}
	}
	if c.TrustedProxies != "" && !regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`).MatchString(c.ClientIPHeader) {
		p.add(v("CLIENT_IP_HEADER"), "%q is not a header name", c.ClientIPHeader)
	}
	if c.Roster != "" && strings.Contains(c.Roster, "://") && !strings.HasPrefix(c.Roster, "http://") && !strings.HasPrefix(c.Roster, "https://") {
		p.add(v("ROSTER"), "%q is neither a file's path nor an http(s) URL", c.Roster)
	}
	if c.RosterInterval < time.Second {
		p.add(v("ROSTER_INTERVAL"), "%s is less than a second", c.RosterInterval)
	}
	if c.RosterStale < 0 || c.SignNewCredential < 0 {
		p.add(v("ROSTER_STALE"), "a negative duration")
	}
	if c.SignChecksFactor < 1 || c.SignChecksFactor > 1000 {
		p.add(v("SIGN_CHECKS_FACTOR"), "%d is not between 1 and 1000", c.SignChecksFactor)
	}
	for _, n := range []struct {
		name string
		n    int
	}{{"SIGN_CHECKS_MIN", c.SignChecksMin}, {"SIGN_NEVER_CONNECTED", c.SignNeverConnected}, {"SIGN_REFUSALS", c.SignRefusals}} {
		if n.n < 0 || n.n > 100000 {
			p.add(v(n.name), "%d is not between 0 and 100000", n.n)
		}
	}
	if c.CallerKey != "" && len(c.CallerKey) < 32 {
		p.add(v("CALLER_KEY"), "too short: give at least 32 random characters (openssl rand -hex 32)")
	}
	if c.ConsoleKey != "" && len(c.ConsoleKey) < 32 {
		p.add(v("CONSOLE_KEY"), "too short: give at least 32 random characters (openssl rand -hex 32)")
	}
}

// webhook checks a signed endpoint's pair of settings, GATEWAY_<name>_URL
// and GATEWAY_<name>_SECRET: each needs the other, and the URL must be
// https (or http on loopback). who names the receiver in the messages.
func (p *problems) webhook(name, url, secret, who string) {
	switch {
	case url != "" && secret == "":
		p.add(Prefix+"_"+name+"_SECRET", "required with GATEWAY_%s_URL: the whsec_ secret %s checks signatures with", name, who)
	case url == "" && secret != "":
		p.add(Prefix+"_"+name+"_URL", "required with GATEWAY_%s_SECRET: %s's https endpoint", name, who)
	}
	if url != "" {
		if msg := checkSecureURL(url); msg != "" {
			p.add(Prefix+"_"+name+"_URL", "%s", msg)
		}
	}
}

// Package config is the gateway's configuration: every setting, read from
// GATEWAY_* environment variables, with its default, description and
// validation.
//
// Load reads the settings from an environment given as a slice, so that
// tests need not touch the process environment (main passes os.Environ()).
// It follows envconfig's conventions (the envconfig, default and desc
// struct tags, nested sections prefixed by their own name) and reports, in
// one error, every value that does not parse, every GATEWAY_* variable that
// is not a setting (with a "did you mean") and every missing or bad setting.
// Usage prints the table that "gateway -h" shows.
//
// The package knows no provider: each provider's section (GATEWAY_ZOOM_...)
// is a Section its adapter package declares, and Load, Process, Usage and
// CheckDisallowed are given the sections of the providers the gateway runs.
//
// This package is a leaf: it imports envconfig and the standard library
// only, and its errors are plain errors, not the gateway's.
package config

import (
	"time"
)

// Prefix starts the name of every setting's environment variable.
const Prefix = "GATEWAY"

// Config is every setting of the gateway: its own, in the fields, and the
// providers' sections it was loaded with (Section.Get reads one). The
// struct tags are envconfig's: the variable's name after the prefix, its
// default and its description. Fields tagged secret are never logged (see
// LogFields).
type Config struct {
	Addr              string `envconfig:"ADDR" default:"127.0.0.1:8080" desc:"host:port the HTTP server listens on"`
	DataDir           string `envconfig:"DATA_DIR" default:"./data" desc:"directory for the embedded store and other local state"`
	Store             string `envconfig:"STORE" desc:"the store: empty for SQLite file gateway.db in the data directory, a path for SQLite at that path, or a postgres:// URL for PostgreSQL (needed to run more than one instance)" secret:"url"`
	SQLiteSynchronous string `envconfig:"SQLITE_SYNCHRONOUS" default:"full" desc:"SQLite's synchronous setting: full (a verification acknowledged is on disk and survives a power failure) or normal (faster; safe if the process crashes, not if the power goes)"`
	RoomsFile         string `envconfig:"ROOMS_FILE" desc:"JSON file of the operations rooms; empty for the embedded Metropolitan Police rooms"`
	BoundariesFile    string `envconfig:"BOUNDARIES_FILE" desc:"GeoJSON file of the areas the rooms cover; empty for the embedded London boroughs"`
	PublicURL         string `envconfig:"PUBLIC_URL" desc:"the URL providers and device agents reach the gateway at (https, or http on loopback); webhook signatures are checked against it; required unless -demo"`
	Instance          string `envconfig:"INSTANCE" desc:"this instance's name in leases, events and logs; empty for hostname-pid"`
	LogLevel          string `envconfig:"LOG_LEVEL" default:"info" desc:"log level: trace, debug, info, warn, error, fatal or panic"`

	RingTimeout    time.Duration `envconfig:"RING_TIMEOUT" default:"20s" desc:"how long one attempt may ring before it counts as not answered"`
	Budget         time.Duration `envconfig:"BUDGET" default:"60s" desc:"how long a verification may take to connect over every channel before the officer is told to use 999"`
	LeaseTTL       time.Duration `envconfig:"LEASE_TTL" default:"30s" desc:"how long a device claim lasts unless renewed"`
	HeartbeatStale time.Duration `envconfig:"HEARTBEAT_STALE" default:"90s" desc:"a device whose agent has not sent a heartbeat for this long is not routed to"`
	SweepInterval  time.Duration `envconfig:"SWEEP_INTERVAL" default:"2s" desc:"how often expired leases and abandoned verifications are swept"`
	RetryMin       time.Duration `envconfig:"RETRY_MIN" default:"200ms" desc:"least wait before retrying a provider request that was not placed"`
	RetryMax       time.Duration `envconfig:"RETRY_MAX" default:"3s" desc:"most wait before retrying a provider request that was not placed"`
	MaxCall        time.Duration `envconfig:"MAX_CALL" default:"30m" desc:"longest a connected call may last; then its device is released"`
	OwnerTTL       time.Duration `envconfig:"OWNER_TTL" default:"10s" desc:"how long an instance's hold on a verification it routes lasts unless renewed; another instance takes over after it"`
	ReportGrace    time.Duration `envconfig:"REPORT_GRACE" default:"2s" desc:"how long a provider webhook about a call or message the gateway has not yet recorded waits for it (a webhook can outrun the API's answer); keep it under the providers' webhook timeouts (Zoom's is 3s)"`
	DeskCalls      int           `envconfig:"DESK_CALLS" default:"1" desc:"how many PSTN calls a room's supervisor desk takes at once (its phone's lines), across every instance; beyond them a call rings a neighbouring room's desk, or waits for a line"`
	MaxBody        int64         `envconfig:"MAX_BODY" default:"65536" desc:"largest request body accepted, in bytes"`

	// The HTTP server's limits, for a gateway behind a load balancer.
	ReadHeaderTimeout time.Duration `envconfig:"READ_HEADER_TIMEOUT" default:"10s" desc:"longest a client may take to send a request's headers"`
	ReadTimeout       time.Duration `envconfig:"READ_TIMEOUT" default:"30s" desc:"longest a client may take to send a whole request, body included; a client sending slowly is disconnected after it"`
	WriteTimeout      time.Duration `envconfig:"WRITE_TIMEOUT" default:"30s" desc:"longest an answer may take to write; event streams and agents' long polls move it on as they write"`
	IdleTimeout       time.Duration `envconfig:"IDLE_TIMEOUT" default:"75s" desc:"how long an idle keep-alive connection is kept open; behind a load balancer make it longer than the balancer's own idle timeout (often 60s)"`
	MaxHeaderBytes    int           `envconfig:"MAX_HEADER_BYTES" default:"32768" desc:"largest request headers accepted, in bytes; larger ones are answered 431"`
	MaxConns          int           `envconfig:"MAX_CONNS" default:"4096" desc:"most client connections open at once; more wait to be accepted, and idle ones are closed to make room; keep it under the file descriptor limit (ulimit -n)"`
	MaxStreams        int           `envconfig:"MAX_STREAMS" default:"16" desc:"most event streams one credential may hold open at once; one more is answered 429"`
	MetricsAddr       string        `envconfig:"METRICS_ADDR" desc:"host:port to serve /metrics on, apart from the API (a private interface, say); empty serves it at GATEWAY_ADDR"`
	MetricsAuth       bool          `envconfig:"METRICS_AUTH" default:"false" desc:"true: /metrics at GATEWAY_ADDR needs an ops credential (Prometheus: authorization with a bearer credentials file)"`
	// The public's pages: official numbers and receipts.
	ForceName      string `envconfig:"FORCE_NAME" default:"Metropolitan Police" desc:"the police force's name, as the public's pages (official numbers, receipts) show it"`
	NumberRegion   string `envconfig:"NUMBER_REGION" default:"GB" desc:"the region (ISO 3166 code) a number typed without its country code is read in, when the public checks a number"`
	TimeZone       string `envconfig:"TIME_ZONE" default:"Europe/London" desc:"the time zone of the times receipts show"`
	PublicRate     int    `envconfig:"PUBLIC_RATE" default:"20" desc:"number checks and receipt lookups a minute that one client address may make, after its burst; 0 turns the limit off"`
	PublicBurst    int    `envconfig:"PUBLIC_BURST" default:"10" desc:"number checks and receipt lookups one client address may make at once"`
	TrustedProxies string `envconfig:"TRUSTED_PROXIES" desc:"comma-separated addresses or CIDR networks of the reverse proxies in front of the gateway, whose GATEWAY_CLIENT_IP_HEADER names the client; empty trusts none"`
	ClientIPHeader string `envconfig:"CLIENT_IP_HEADER" default:"X-Forwarded-For" desc:"the header a trusted proxy gives the client's address in (X-Forwarded-For, or one such as X-Real-IP)"`
	CallerKey      string `envconfig:"CALLER_KEY" desc:"the key (at least 32 characters) of the keyed hash a public caller's number is kept as; empty: a key generated once into the data directory (caller.key), which instances sharing a store must share" secret:"true"`

	// The tamper-evident log.
	LogKey        string        `envconfig:"LOG_KEY" desc:"the key that signs the log's checkpoints and exports: a signed-note Ed25519 signer key (PRIVATE+KEY+origin+...); empty: a key generated once into the data directory (log.key), named after GATEWAY_PUBLIC_URL's host, which instances sharing a store must share" secret:"true"`
	LogSequence   time.Duration `envconfig:"LOG_SEQUENCE_INTERVAL" default:"1s" desc:"how often new leaves of the log are given their places in it"`
	LogCheckpoint time.Duration `envconfig:"LOG_CHECKPOINT_INTERVAL" default:"5s" desc:"how often a grown log gets a signed checkpoint"`
	// Retention: how long a closed verification keeps its personal fields.
	RetentionPersonal time.Duration `envconfig:"RETENTION_PERSONAL" default:"8760h" desc:"how long after a verification closed its personal fields (officer, location, contacts, join links, notes, the caller's number and hash, events' messages, data and reports) are erased, unless it is on legal hold; its skeleton and the log stay; 0: never"`
	RetentionInterval time.Duration `envconfig:"RETENTION_INTERVAL" default:"1h" desc:"how often the retention job looks for verifications to erase"`

	// Delivery of the record to the force's incident system.
	IncidentURL      string        `envconfig:"INCIDENT_URL" desc:"the https endpoint of the force's command-and-control or incident system: every closed verification and every flag is POSTed to it as JSON signed as the Standard Webhooks specification says, from a durable outbox; empty: none (in the demo, a fake incident system)"`
	IncidentSecret   string        `envconfig:"INCIDENT_SECRET" desc:"the signing secret shared with the incident system: whsec_ and 24 to 64 bytes in base64; required with GATEWAY_INCIDENT_URL" secret:"true"`
	StandardsURL     string        `envconfig:"STANDARDS_URL" desc:"the https endpoint of the force's professional standards: feedback from the public that reports misconduct is POSTed there (signed as the incident system's messages are) instead of to GATEWAY_INCIDENT_URL, which it needs; empty: to the incident system"`
	StandardsSecret  string        `envconfig:"STANDARDS_SECRET" desc:"the signing secret shared with professional standards, as GATEWAY_INCIDENT_SECRET; required with GATEWAY_STANDARDS_URL" secret:"true"`
	IncidentRetryFor time.Duration `envconfig:"INCIDENT_RETRY_FOR" default:"24h" desc:"how long a message the incident system did not take is tried again (after 5s, doubling to an hour) before it is dead, for ops to replay"`

	// The supervisor's check: the duty roster and the warning signs.
	Roster             string        `envconfig:"ROSTER" desc:"the duty roster: a CSV file's path, or an http(s) URL pulled every GATEWAY_ROSTER_INTERVAL (ETag honoured; the last good copy kept when a pull fails); empty: no roster, and every check shows that none is loaded"`
	RosterAuth         string        `envconfig:"ROSTER_AUTHORIZATION" desc:"the Authorization header sent with each roster pull (\"Bearer ...\"), if the duty system wants one" secret:"true"`
	RosterInterval     time.Duration `envconfig:"ROSTER_INTERVAL" default:"5m" desc:"how often the roster is loaded again"`
	RosterStale        time.Duration `envconfig:"ROSTER_STALE" default:"24h" desc:"a roster last loaded longer ago than this is shown as stale, a warning sign on every check; 0: never"`
	RosterPhotos       string        `envconfig:"ROSTER_PHOTOS" desc:"the directory of the officers' photos the roster's photo column names; empty: the roster file's directory (none for a URL)"`
	SignNewCredential  time.Duration `envconfig:"SIGN_NEW_CREDENTIAL" default:"72h" desc:"an officer's credential issued less than this long ago is a warning sign"`
	SignChecksFactor   int           `envconfig:"SIGN_CHECKS_FACTOR" default:"3" desc:"an officer's checks in 7 or 30 days are a warning sign when more than this many times the force's median (and at least GATEWAY_SIGN_CHECKS_MIN)"`
	SignChecksMin      int           `envconfig:"SIGN_CHECKS_MIN" default:"5" desc:"the fewest checks in 7 or 30 days that can be a warning sign"`
	SignNeverConnected int           `envconfig:"SIGN_NEVER_CONNECTED" default:"2" desc:"this many of an officer's checks in 30 days that never connected (or that he cancelled) are a warning sign; 0: never"`
	SignRefusals       int           `envconfig:"SIGN_REFUSALS" default:"1" desc:"this many refusals of an officer by other supervisors in 90 days are a warning sign; 0: never"`

	BreakerFailures int           `envconfig:"BREAKER_FAILURES" default:"5" desc:"consecutive failures of a provider that open its circuit breaker"`
	BreakerCooldown time.Duration `envconfig:"BREAKER_COOLDOWN" default:"30s" desc:"how long an open circuit breaker skips its provider before probing it again"`

	DeviceBatteryFloor int `envconfig:"DEVICE_BATTERY_FLOOR" default:"15" desc:"battery percentage under which a handset that is not charging gets no new calls (at the floor it still does); 0 turns the check off"`

	// The supervisor console at /console.
	ConsoleSession time.Duration `envconfig:"CONSOLE_SESSION" default:"12h" desc:"how long a sign-in to the supervisor console lasts"`
	ConsoleKey     string        `envconfig:"CONSOLE_KEY" desc:"the key (at least 32 characters) that signs the console's session cookies and CSRF tokens; empty: a key generated once into the data directory (console.key), which instances behind one address must share" secret:"true"`

	// The live check on her phone at /live.
	LiveAfter time.Duration `envconfig:"LIVE_AFTER" default:"15m" desc:"how long after a verification ends its live check link (public_url) still shows how it ended, before sending her to the receipt"`

	// sections are the providers' sections (see Section), in the order
	// Load was given them.
	sections []sectionValue
}

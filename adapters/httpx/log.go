package httpx

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sirupsen/logrus"
)

// LeveledLogger adapts a logrus.FieldLogger to go-retryablehttp's
// LeveledLogger: the key-value pairs become logrus fields. go-retryablehttp
// reports each failed try as an error; that is not yet a failure of the
// gateway (the caller handles and logs the final outcome), so Error logs at
// warning level.
type LeveledLogger struct {
	Logger logrus.FieldLogger
}

// Error logs a failed try, at warning level.
func (l LeveledLogger) Error(msg string, kv ...any) { l.entry(kv).Warn(msg) }

// Warn logs at warning level.
func (l LeveledLogger) Warn(msg string, kv ...any) { l.entry(kv).Warn(msg) }

// Info logs at info level.
func (l LeveledLogger) Info(msg string, kv ...any) { l.entry(kv).Info(msg) }

// Debug logs at debug level.
func (l LeveledLogger) Debug(msg string, kv ...any) { l.entry(kv).Debug(msg) }

func (l LeveledLogger) entry(kv []any) logrus.FieldLogger {
	if len(kv) == 0 {
		return l.Logger
	}
	f := make(logrus.Fields, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		k := fmt.Sprint(kv[i])
		if i+1 == len(kv) {
			f[k] = "(missing)"
			break
		}
		v := kv[i+1]
		if err, ok := v.(error); ok {
			v = MaskNumbers(err.Error())
		}
		f[k] = v
	}
	return l.Logger.WithFields(f)
}

// Interface guards
var _ retryablehttp.LeveledLogger = LeveledLogger{}

// Settings are what every adapter that calls its provider over HTTP holds
// beside its credentials and URLs, embedded; DefaultSettings gives their
// defaults.
type Settings struct {
	// HTTPClient makes every call to the provider (default NewClient(nil);
	// give it a logger with a "provider" field).
	HTTPClient *Client
	// Logger logs what the adapter handles (default: discards).
	Logger logrus.FieldLogger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultSettings returns Settings with the defaults above.
func DefaultSettings() Settings {
	return Settings{HTTPClient: NewClient(nil), Logger: Log(nil), Now: time.Now}
}

// Log returns l, or a logger that discards when l is nil: an adapter's
// Logger with its default.
func Log(l logrus.FieldLogger) logrus.FieldLogger {
	if l == nil {
		d := logrus.New()
		d.Out = io.Discard
		return d
	}
	return l
}

// Now returns now(), or time.Now() when now is nil: an adapter's clock
// with its default.
func Now(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}

// URL returns an adapter's base URL setting, or def when it is empty,
// without a trailing slash, followed by path.
func URL(base, def, path string) string {
	if base == "" {
		base = def
	}
	return strings.TrimRight(base, "/") + path
}

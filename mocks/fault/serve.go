package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// Now reads a fake's clock: now, or time.Now when it is nil.
func Now(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}

// WriteJSON answers with status and v as JSON, under the Content-Type the
// provider sends its JSON with.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// MaxAnswer is how much of the gateway's answer to a webhook is read.
const MaxAnswer = 64 << 10

// Post posts body to url with header (a provider's signature, its
// Content-Type and User-Agent) through hc (nil: http.DefaultClient), and
// returns the gateway's status and (at most MaxAnswer of) its answer; 0 and
// the error when the post failed.
func Post(ctx context.Context, hc *http.Client, url string, header http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	return resp.StatusCode, answer, nil
}

package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/internal/httperror"
)

// WriteError answers a webhook request with err's code and client-safe
// message in the gateway's JSON error body, {"error":{"code":...,
// "message":...}}, under the status the API answers the code with
// (httperror.Status): 400 invalid, 403 bad_signature, 404 not_found, 413
// too_large, 500 internal, 503 unavailable.
func WriteError(w http.ResponseWriter, err error) {
	code := gateway.ErrorCode(err)
	write(w, httperror.Status(code), code, gateway.ErrorMessage(err))
}

// WriteNotRecorded answers a webhook whose report could not be recorded:
// 503 unavailable when the store cannot write now (the provider sends it
// again, and the API's layer adds Retry-After), else 500 internal. Either
// way the message says only that it was not recorded.
func WriteNotRecorded(w http.ResponseWriter, err error) {
	if gateway.ErrorCode(err) == gateway.EUNAVAILABLE {
		WriteError(w, gateway.Errorf(gateway.EUNAVAILABLE, "the report could not be recorded now: send it again"))
		return
	}
	WriteError(w, gateway.Errorf(gateway.EINTERNAL, "the report could not be recorded"))
}

// RefuseMethod answers a webhook request whose method the handler does not
// serve: 405 with allow as the Allow header, and the JSON error invalid with
// msg.
func RefuseMethod(w http.ResponseWriter, allow, msg string) {
	w.Header().Set("Allow", allow)
	write(w, http.StatusMethodNotAllowed, gateway.EINVALID, msg)
}

func write(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(httperror.NewBody(code, msg))
}

// ReadBody reads a webhook request's body of at most limit bytes. Errors
// are ETOOLARGE (over the limit) or EINVALID, for WriteError.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, gateway.Errorf(gateway.ETOOLARGE, "body over %d bytes", limit)
		}
		return nil, gateway.Errorf(gateway.EINVALID, "could not read the body")
	}
	return body, nil
}

package httperror

import (
	"net/http"
	"testing"

	"github.com/safeconnection/gateway"
)

func TestCodeOfAStatusAHandlerChose(t *testing.T) {
	for st, want := range map[int]string{
		http.StatusBadRequest:                   gateway.EINVALID,
		http.StatusUnauthorized:                 gateway.EUNAUTHORIZED,
		http.StatusForbidden:                    gateway.EFORBIDDEN, // not bad_signature
		http.StatusNotFound:                     gateway.ENOTFOUND,
		http.StatusMethodNotAllowed:             CodeMethodNotAllowed,
		http.StatusConflict:                     gateway.ECONFLICT,
		http.StatusRequestEntityTooLarge:        gateway.ETOOLARGE,
		http.StatusUnprocessableEntity:          gateway.EINVALID, // not outside_area or idempotency_mismatch
		http.StatusTooManyRequests:              gateway.ERATELIMITED,
		http.StatusServiceUnavailable:           gateway.EUNAVAILABLE,
		http.StatusGatewayTimeout:               gateway.ETIMEOUT,
		http.StatusInternalServerError:          gateway.EINTERNAL,
		http.StatusRequestHeaderFieldsTooLarge:  gateway.EINVALID,
		http.StatusTeapot:                       gateway.EINVALID,
		http.StatusBadGateway:                   gateway.EINTERNAL,
		http.StatusHTTPVersionNotSupported:      gateway.EINTERNAL,
		http.StatusUnavailableForLegalReasons:   gateway.EINVALID,
		http.StatusRequestedRangeNotSatisfiable: gateway.EINVALID,
	} {
		if got := Code(st); got != want {
			t.Errorf("Code(%d) = %q, want %q", st, got, want)
		}
	}
	// Every code the table gives a status of its own comes back from it.
	shared := map[int]bool{http.StatusForbidden: true, http.StatusUnprocessableEntity: true, http.StatusRequestHeaderFieldsTooLarge: true}
	for code, st := range status {
		if !shared[st] && Code(st) != code {
			t.Errorf("Code(Status(%q)) = %q", code, Code(st))
		}
	}
}

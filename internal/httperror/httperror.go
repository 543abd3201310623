// Package httperror is the one table from the gateway's error codes to HTTP
// statuses, and the JSON body of every error answer,
// {"error":{"code":"invalid","message":"..."}}: the API (httpapi) and the
// providers' webhooks (adapters) answer by it alike.
package httperror

import (
	"net/http"

	"github.com/safeconnection/gateway"
)

// The HTTP layer's own codes, beside the domain's.
const (
	// CodeMethodNotAllowed is for a path served only for other methods:
	// the domain has no such error.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeHeadersTooLarge is for request headers over the server's limit.
	CodeHeadersTooLarge = "headers_too_large"
)

// status is the one table from error codes to HTTP statuses.
var status = map[string]int{
	gateway.EINVALID:      http.StatusBadRequest,
	gateway.EUNAUTHORIZED: http.StatusUnauthorized,
	gateway.EFORBIDDEN:    http.StatusForbidden,
	gateway.ENOTFOUND:     http.StatusNotFound,
	CodeMethodNotAllowed:  http.StatusMethodNotAllowed,
	gateway.ECONFLICT:     http.StatusConflict,
	gateway.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	gateway.EOUTSIDE:      http.StatusUnprocessableEntity,
	gateway.ERATELIMITED:  http.StatusTooManyRequests,
	gateway.EUNAVAILABLE:  http.StatusServiceUnavailable,
	gateway.ETIMEOUT:      http.StatusGatewayTimeout,
	gateway.ESIGNATURE:    http.StatusForbidden,
	gateway.EINTERNAL:     http.StatusInternalServerError,
	gateway.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	CodeHeadersTooLarge:   http.StatusRequestHeaderFieldsTooLarge,
	gateway.EMISMATCH:     http.StatusForbidden,
	gateway.ENOIDENTITY:   http.StatusUnprocessableEntity,
}

// Status returns the HTTP status for an error code. Unknown codes are 500.
func Status(code string) int {
	if st, ok := status[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// Code returns the code answered for an error status a handler chose
// itself: the table's code for it (forbidden for 403, which bad_signature
// shares; invalid for 422, which outside_area and idempotency_mismatch
// share), else invalid below 500 and internal from 500.
func Code(st int) string {
	switch st {
	case http.StatusForbidden:
		return gateway.EFORBIDDEN
	case http.StatusUnprocessableEntity, http.StatusRequestHeaderFieldsTooLarge:
		return gateway.EINVALID
	case http.StatusInternalServerError:
		return gateway.EINTERNAL
	}
	for code, s := range status {
		if s == st {
			return code
		}
	}
	if st < 500 {
		return gateway.EINVALID
	}
	return gateway.EINTERNAL
}

// Body is the JSON body of every error answer.
type Body struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// NewBody returns the body for code and msg.
func NewBody(code, msg string) Body {
	var b Body
	b.Error.Code, b.Error.Message = code, msg
	return b
}

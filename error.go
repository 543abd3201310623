package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Append only: the HTTP layer maps each to one status.
const (
	ECONFLICT     = "conflict"             // the state does not allow it (a stale lease, a finished verification)
	EINTERNAL     = "internal"             // a fault of ours
	EINVALID      = "invalid"              // bad input
	ENOTFOUND     = "not_found"            // no such thing
	EUNAUTHORIZED = "unauthorized"         // no or bad credential
	EFORBIDDEN    = "forbidden"            // a credential without the role
	EUNAVAILABLE  = "unavailable"          // nothing free now (no device), or a dependency is down
	EOUTSIDE      = "outside_area"         // a location that no room covers
	ETOOLARGE     = "too_large"            // a request body over the limit
	ERATELIMITED  = "rate_limited"         // too many requests
	ETIMEOUT      = "timeout"              // a deadline passed
	ESIGNATURE    = "bad_signature"        // a webhook whose signature does not verify
	EIDEMPOTENCY  = "idempotency_mismatch" // an Idempotency-Key used before with a different request
	EMISMATCH     = "officer_mismatch"     // a credential used in the name of another officer
	ENOIDENTITY   = "no_identity"          // a credential that does not say who holds it, where that is needed
)

// Error is the gateway's error: a code for machines, a message safe to show a
// client, the operation that failed and the underlying error for logs.
type Error struct {
	Code    string
	Message string
	Op      string
	Err     error
}

// Error returns the whole chain, for logs.
func (e *Error) Error() string {
	var parts []string
	for _, p := range []string{e.Op, e.Message} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	}
	if len(parts) == 0 {
		return e.Code
	}
	return strings.Join(parts, ": ")
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// E wraps err with an operation and a code; the message is kept from err when
// err is an *Error.
func E(op, code string, err error) *Error {
	return &Error{Op: op, Code: code, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain that has one,
// "" for nil, and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	for errors.As(err, &e) {
		if e.Code != "" {
			return e.Code
		}
		if e.Err == nil {
			break
		}
		err = e.Err
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the first message found
// in its chain of *Error, or a generic text for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	for err != nil && errors.As(err, &e) {
		if e.Message != "" {
			return e.Message
		}
		err = e.Err
	}
	return "internal error"
}

package httpapi

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/handle"
)

// Limits of the officer's request.
const (
	MaxCollar   = 32
	MaxWarrant  = 64
	MaxContacts = 8
	// MaxGrounds is the longest stated reason for a stop, in characters.
	MaxGrounds = 500
	// MaxIdempotencyKey is the longest Idempotency-Key header accepted.
	MaxIdempotencyKey = 128
)

// requestBody is the wire form of an officer's request.
type requestBody struct {
	Officer  *officerBody  `json:"officer"`
	Location *StopLocation `json:"location"`
	Contacts []contactBody `json:"contacts"`
	Grounds  string        `json:"grounds"`
}

type officerBody struct {
	Collar  string `json:"collar"`
	Warrant string `json:"warrant"`
}

type contactBody struct {
	Channel string `json:"channel"`
	Handle  string `json:"handle"`
	Links   bool   `json:"links"`
}

// DecodeRequest reads an officer's request body of at most max bytes,
// strictly (one JSON object, no unknown or repeated fields, no trailing
// data), and checks it: the officer optional (collar present and short,
// warrant short, when he is stated), a location on
// the globe, one to eight contacts on distinct known channels, each with a
// handle that suits its channel (channels knows the channels and checks
// their handles). RequestedBy and IdempotencyKey are left for the caller.
// EINVALID naming the bad field; ETOOLARGE over max.
func DecodeRequest(r io.Reader, max int64, channels *gateway.Registry) (gateway.Request, error) {
	data, err := readLimited(r, max)
	if err != nil {
		return gateway.Request{}, err
	}
	var body requestBody
	if err := unmarshalStrict(data, &body); err != nil {
		return gateway.Request{}, err
	}
	return body.check(channels)
}

func (b requestBody) check(channels *gateway.Registry) (gateway.Request, error) {
	var req gateway.Request
	var err error
	if b.Officer != nil { // optional: the officer is his credential's; a stated one must be the same
		if req.Officer.Collar, err = checkText("officer.collar", b.Officer.Collar, MaxCollar); err != nil {
			return req, err
		}
		if req.Officer.Warrant, err = checkOptionalText("officer.warrant", b.Officer.Warrant, MaxWarrant); err != nil {
			return req, err
		}
	}

	if b.Location == nil {
		return req, invalid("location is required")
	}
	if req.Location, err = b.Location.check(); err != nil {
		return req, err
	}

	if len(b.Contacts) == 0 {
		return req, invalid("contacts must list at least one way to reach you")
	}
	if len(b.Contacts) > MaxContacts {
		return req, invalid("contacts may list at most %d entries", MaxContacts)
	}
	seen := make(map[gateway.Channel]bool)
	for i, c := range b.Contacts {
		field := fmt.Sprintf("contacts[%d]", i)
		ch, err := channels.Parse(c.Channel)
		if err != nil {
			return req, invalid("%s.channel: %s", field, gateway.ErrorMessage(err))
		}
		if seen[ch] {
			return req, invalid("%s.channel: %s is listed twice", field, ch)
		}
		seen[ch] = true
		h, err := channels.CheckHandle(ch, c.Handle)
		if err != nil {
			return req, invalid("%s.handle: %s", field, gateway.ErrorMessage(err))
		}
		if in, _ := channels.Info(ch); c.Links && !in.Links {
			return req, invalid("%s.links: meeting links can be sent by message to a %s contact only", field, linkChannels(channels))
		}
		req.Contacts = append(req.Contacts, gateway.Contact{Channel: ch, Handle: h, Links: c.Links})
	}
	if req.Grounds, err = checkGrounds("grounds", b.Grounds); err != nil {
		return req, err
	}
	return req, nil
}

// checkGrounds checks the stated reason for a stop: optional, at most
// MaxGrounds characters, printable (line breaks allowed, kept as spaces).
func checkGrounds(field, s string) (string, error) {
	s = strings.Join(strings.Fields(s), " ")
	return checkOptionalText(field, s, MaxGrounds)
}

func invalid(format string, args ...any) error {
	return gateway.Errorf(gateway.EINVALID, format, args...)
}

// checkText trims s and requires it to be present, printable and at most
// max characters long.
func checkText(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", invalid("%s is required", field)
	case utf8.RuneCountInString(s) > max:
		return "", invalid("%s must be at most %d characters", field, max)
	case !handle.Printable(s):
		return "", invalid("%s must hold printable characters only", field)
	}
	return s, nil
}

// checkOptionalText is checkText for a field that may be empty.
func checkOptionalText(field, s string, max int) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	return checkText(field, s, max)
}

// linkChannels names the channels on which contacts may ask for meeting
// links by message: "whatsapp", or "whatsapp or signal".
func linkChannels(channels *gateway.Registry) string {
	var names []string
	for _, c := range channels.Channels() {
		if in, _ := channels.Info(c); in.Links {
			names = append(names, string(c))
		}
	}
	if len(names) == 0 {
		return "messaging"
	}
	return strings.Join(names, " or ")
}

// checkIdempotencyKey requires a key of printable ASCII, at most
// MaxIdempotencyKey long.
func checkIdempotencyKey(k string) error {
	if len(k) > MaxIdempotencyKey {
		return invalid("Idempotency-Key must be at most %d characters", MaxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return invalid("Idempotency-Key must hold printable ASCII characters only")
		}
	}
	return nil
}

// decodeBody reads the request's JSON body strictly into v: it must be
// declared as JSON, fit in MaxBody and hold exactly one value with no
// unknown or repeated fields.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return unmarshalStrict(data, v)
}

// readBody reads the whole request body, up to MaxBody. ETOOLARGE.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	max := s.maxBody()
	if r.ContentLength > max {
		return nil, gateway.Errorf(gateway.ETOOLARGE, "request body over %d bytes", max)
	}
	return readLimited(http.MaxBytesReader(w, r.Body, max), max)
}

// requireJSON checks the Content-Type of a request with a body.
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return invalid("Content-Type must be application/json")
	}
	return nil
}

// readLimited reads all of r, up to max bytes. ETOOLARGE over max.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || int64(len(data)) > max:
		return nil, gateway.Errorf(gateway.ETOOLARGE, "request body over %d bytes", max)
	case err != nil:
		return nil, &gateway.Error{Code: gateway.EINVALID, Message: "could not read the request body", Err: err}
	}
	return data, nil
}

// unmarshalStrict decodes exactly one JSON value into v: case-sensitive
// names, no unknown or repeated members, valid UTF-8, nothing after it.
// EINVALID with a message naming the bad field.
func unmarshalStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("request body is empty: a JSON object is required")
	}
	err := json.Unmarshal(data, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	return &gateway.Error{Code: gateway.EINVALID, Message: jsonMessage(err), Err: err}
}

// jsonMessage turns a decoding error into a client-safe message that names
// the field.
func jsonMessage(err error) string {
	var serr *json.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &syn):
		field := fieldName(syn.JSONPointer)
		if errors.Is(syn.Err, jsontext.ErrDuplicateName) {
			return fmt.Sprintf("field %s is given twice", field)
		}
		msg := "malformed JSON"
		if field != "" {
			msg += " in " + field
		}
		if syn.Err != nil {
			msg += ": " + strings.TrimPrefix(syn.Err.Error(), "jsontext: ")
		}
		return fmt.Sprintf("%s (at byte %d)", msg, syn.ByteOffset)
	case errors.As(err, &serr):
		field := fieldName(serr.JSONPointer)
		if errors.Is(serr.Err, json.ErrUnknownName) {
			return fmt.Sprintf("unknown field %s", field)
		}
		want := jsonKindOf(serr.GoType)
		if field == "" {
			return fmt.Sprintf("request body must be a JSON %s", cmp.Or(want, "object"))
		}
		switch {
		case serr.JSONKind == '0' && want == "number":
			return fmt.Sprintf("%s is out of range", field)
		case serr.JSONKind == '0' && want == "whole number":
			return fmt.Sprintf("%s must be a whole number within range", field)
		case want == "":
			return fmt.Sprintf("%s has an invalid value", field)
		}
		return fmt.Sprintf("%s must be %s", field, withArticle(want))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON"
}

// fieldName renders a JSON pointer as the field a client wrote:
// /contacts/0/handle is contacts[0].handle.
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Quote(tok)[1 : len(strconv.Quote(tok))-1])
	}
	return b.String()
}

// withArticle puts "a" or "an" before a kind's name.
func withArticle(kind string) string {
	if kind != "" && strings.IndexByte("aeiou", kind[0]) >= 0 {
		return "an " + kind
	}
	return "a " + kind
}

// jsonKindOf names the JSON kind a Go type is decoded from.
func jsonKindOf(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return ""
}

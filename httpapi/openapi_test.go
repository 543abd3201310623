package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/safeconnection/gateway"
	"github.com/safeconnection/gateway/httpapi"
	"github.com/safeconnection/gateway/httpapi/httpapitest"
	"github.com/safeconnection/gateway/httpapi/openapitest"
	"github.com/safeconnection/gateway/ledger"
)

// everything sets up every optional part of the server: the public's
// pages, metrics, the webhooks and join page of every provider, and the
// console.
func everything(s *httpapi.Server) {
	s.Public = httpapi.Public{Force: "Test Police", Rooms: numberBook{},
		Live: &httpapi.Live{Key: []byte("a test key of the live check links"), BaseURL: "https://police.test.invalid"}}
	s.Metrics = http.NotFoundHandler()
	stub := http.NotFoundHandler()
	s.Webhooks = map[string]http.Handler{"twilio": stub, "whatsapp": stub, "zoom": stub}
	s.Pages = map[string]http.Handler{"webrtc": stub}
	s.Console = stub
	if fs, ok := s.Verifications.(gateway.FeedbackStore); ok {
		s.Feedback = fs
	}
	if st, ok := s.Verifications.(gateway.LogStore); ok {
		skey, vkey, err := ledger.GenerateKey("test.invalid/log")
		if err != nil {
			panic(err)
		}
		s.Log, _ = ledger.New(st, skey)
		s.LogKey = vkey
	}
}

// numberBook is a NumberBook without rooms.
type numberBook struct{}

func (numberBook) Rooms() []gateway.Room { return nil }
func (numberBook) OfficialOn(string, string) (gateway.Room, gateway.Channel, string, bool) {
	return gateway.Room{}, "", "", false
}

func TestOpenAPIDescriptionIsValid(t *testing.T) {
	doc, err := httpapi.LoadOpenAPI(context.Background())
	if err != nil {
		t.Fatalf("the description does not load or validate: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
	// Paths are kept sorted, one block each, so that additions merge.
	var paths []string
	for _, line := range strings.Split(string(httpapi.OpenAPI()), "\n") {
		if strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":") {
			paths = append(paths, strings.TrimSuffix(strings.TrimSpace(line), ":"))
		}
	}
	if len(paths) != doc.Paths.Len() {
		t.Errorf("%d path blocks, %d paths", len(paths), doc.Paths.Len())
	}
	if !slices.IsSorted(paths) {
		t.Errorf("the paths are not sorted: %v", paths)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			for status, r := range op.Responses.Map() {
				if status >= "400" && r.Value != nil && r.Value.Content.Get("application/json") != nil &&
					r.Value.Content.Get("application/json").Schema.Ref != "#/components/schemas/Error" {
					t.Errorf("%s %s answers %s in JSON without the Error schema", method, path, status)
				}
			}
		}
	}
}

func TestOpenAPIServedAsJSON(t *testing.T) {
	e := httpapitest.New(t)
	r := do(t, e, call{method: "GET", path: "/openapi.json"})
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if !json.Valid(r.body) {
		t.Fatal("not JSON")
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatalf("not an OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Errorf("the served document does not validate: %v", err)
	}
	if doc.Paths.Value("/v1/verifications") == nil {
		t.Error("the served document lacks /v1/verifications")
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := httpapitest.New(t, everything)
	c := openapitest.New(t)
	for _, err := range c.CompareRoutes(e.Server.Routes()) {
		t.Error(err)
	}
}

// The checks fail on what they should: a route the description lacks, a
// route it has that the server does not serve, and an answer that does
// not match.
func TestOpenAPICheckerFailsOnDrift(t *testing.T) {
	c := openapitest.New(t)
	e := httpapitest.New(t, everything)
	routes := e.Server.Routes()

	if errs := c.CompareRoutes(append(routes, "POST /v1/nosuch")); len(errs) != 1 || !strings.Contains(errs[0].Error(), "POST /v1/nosuch") {
		t.Errorf("a route the description lacks: %v", errs)
	}
	if errs := c.CompareRoutes(slices.DeleteFunc(slices.Clone(routes), func(p string) bool { return p == "GET /v1/flags" })); len(errs) != 1 || !strings.Contains(errs[0].Error(), "/v1/flags") {
		t.Errorf("a described route the server lacks: %v", errs)
	}
	if errs := c.CompareRoutes(append(routes, "/webhooks/nosuch/")); len(errs) != 1 {
		t.Errorf("a provider's prefix the description lacks: %v", errs)
	}

	req, _ := http.NewRequest("GET", "/healthz", nil)
	json := http.Header{"Content-Type": {"application/json"}}
	for _, tt := range []struct {
		name string
		x    openapitest.Exchange
		want string // in the error; "": none
	}{
		{"as described", openapitest.Exchange{Request: req, Status: 200, Header: json, Body: []byte(`{"status":"ok"}`)}, ""},
		{"a field more", openapitest.Exchange{Request: req, Status: 200, Header: json, Body: []byte(`{"status":"ok","extra":1}`)}, "extra"},
		{"a status not described", openapitest.Exchange{Request: req, Status: 201, Header: json, Body: []byte(`{"status":"ok"}`)}, "201"},
		{"an error body not the Error", openapitest.Exchange{Request: req, Status: 500, Header: json, Body: []byte(`{"message":"x"}`)}, "error"},
		{"a path not described", openapitest.Exchange{Request: mustRequest(t, "GET", "/v1/nosuch"), Status: 200, Header: json, Body: []byte(`{}`)}, "no such path"},
		{"a path not described, answered 404", openapitest.Exchange{Request: mustRequest(t, "GET", "/v1/nosuch"), Status: 404, Header: json, Body: []byte(`{}`)}, ""},
		{"a request refused by the description but taken", openapitest.Exchange{Request: mustRequest(t, "GET", "/v1/devices"), Status: 200, Header: json, Body: []byte(`{"devices":[]}`)}, "refuses the request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Check(tt.x)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func mustRequest(t testing.TB, method, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

package speccheck

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func TestDoReadsBothBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte("echo:" + string(b)))
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("hello"))
	x, err := Do(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	if string(x.RequestBody) != "hello" || string(x.Body) != "echo:hello" || x.Cut {
		t.Fatalf("exchange %q %q cut %v", x.RequestBody, x.Body, x.Cut)
	}
	if b, _ := io.ReadAll(x.Response.Body); string(b) != "echo:hello" {
		t.Fatalf("answer body put back as %q", b)
	}
}

func TestDoCutAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte(`{"a":`))
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	x, err := Do(srv.Client().Transport, req)
	if err != nil {
		t.Fatal(err)
	}
	if !x.Cut || string(x.Body) != `{"a":` {
		t.Fatalf("cut %v body %q", x.Cut, x.Body)
	}
}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, errors.New("down") }

func TestDoTransportError(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	if _, err := Do(failing{}, req); err == nil || err.Error() != "down" {
		t.Fatalf("error %v", err)
	}
}

func TestLog(t *testing.T) {
	var l Log
	r := httptest.NewRequest(http.MethodPost, "/v1/x", nil)
	Add(&l, r, nil)
	Add(&l, r, errors.New("bad"))
	n, errs := l.Checked()
	if n != 2 || len(errs) != 1 || errs[0].Error() != "POST /v1/x: bad" {
		t.Fatalf("checked %d, failures %v", n, errs)
	}
}

const doc = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "servers": [{"url": "https://api.example.com"}],
  "paths": {
    "/things": {
      "post": {
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
        "responses": {"201": {"description": "made", "content": {"application/json": {"schema": {
          "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}}}
      }
    }
  }
}`

func TestFindAndValidate(t *testing.T) {
	spec, err := openapi3.NewLoader().LoadFromData([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	server, _ := url.Parse("https://api.example.com")
	ctx := context.Background()
	check := func(path, body string, status int, answer string) error {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, nil)
		r.Header.Set("Content-Type", "application/json")
		in, err := Find(ctx, router, server, r, []byte(body))
		if err != nil {
			return err
		}
		h := http.Header{"Content-Type": {"application/json"}}
		return Validate(ctx, in, openapi3filter.NoopAuthenticationFunc, status, h, []byte(answer))
	}
	if err := check("/things", `{"name":"a"}`, 201, `{"id":"1"}`); err != nil {
		t.Fatalf("a good exchange: %v", err)
	}
	if err := check("/things", `{}`, 201, `{"id":"1"}`); err == nil || !strings.Contains(err.Error(), "request") {
		t.Fatalf("a bad request: %v", err)
	}
	if err := check("/things", `{"name":"a"}`, 201, `{}`); err == nil || !strings.Contains(err.Error(), "response") {
		t.Fatalf("a bad answer: %v", err)
	}
	if err := check("/things", `{"name":"a"}`, 500, `not json`); err != nil {
		t.Fatalf("an error answer was checked: %v", err)
	}
	if err := check("/nothing", `{}`, 201, `{}`); err == nil {
		t.Fatal("a path not in the document was found")
	}
}

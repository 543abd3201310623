package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/safeconnection/gateway"
)

// openAPIYAML is the OpenAPI 3 description of the whole HTTP API: the
// contract the officer app and gatewayctl are built against, which the
// tests check every request and answer against.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI returns the OpenAPI 3 description of the API, as YAML.
func OpenAPI() []byte { return append([]byte(nil), openAPIYAML...) }

// LoadOpenAPI parses and validates the API's description.
func LoadOpenAPI(ctx context.Context) (*openapi3.T, error) {
	l := openapi3.NewLoader()
	l.Context = ctx
	doc, err := l.LoadFromData(openAPIYAML)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, err
	}
	return doc, nil
}

// openAPIJSON is the description as JSON, converted once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := LoadOpenAPI(context.Background())
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
})

// GET /openapi.json
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	body, err := openAPIJSON()
	if err != nil {
		s.writeError(w, r, gateway.E("httpapi.openAPI", gateway.EINTERNAL, err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
}

package gateway_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

const module = "github.com/safeconnection/gateway"

type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	Imports    []string
	Deps       []string // every package it imports, directly or not
	GoFiles    []string
	Standard   bool
}

// listPackages runs `go list` over the module (each package with its
// transitive dependencies, as `go list -deps` finds them).
func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func rel(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// TestImportDirection checks that data flows one way (STYLE.md point 5):
// cmd -> httpapi -> router -> adapters, router -> store.
func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		me := rel(p.ImportPath)
		for _, imp := range p.Imports {
			them := rel(imp)
			own := strings.HasPrefix(imp, module)
			switch {
			case me == ".":
				if !isStd(imp) {
					t.Errorf("the domain package imports %s: it may import only the standard library", imp)
				}
			case me == "config":
				if !isStd(imp) && imp != "github.com/kelseyhightower/envconfig" {
					t.Errorf("config imports %s: it is a leaf (envconfig and the standard library only)", imp)
				}
			case me == "router" || strings.HasPrefix(me, "router/"):
				if imp == "net/http" || strings.HasPrefix(them, "adapters") || strings.HasPrefix(them, "httpapi") || strings.HasPrefix(them, "store") || strings.HasPrefix(them, "mocks") {
					t.Errorf("router imports %s: it knows no provider, no HTTP and no store implementation", imp)
				}
			case strings.HasPrefix(me, "adapters/"):
				// A provider's descriptor starts its wire-level fake for the
				// demo: mocks/<provider>, never the router's fakes or the
				// simulated device agents.
				fake := strings.HasPrefix(them, "mocks/") && them != "mocks/agent"
				if own && (strings.HasPrefix(them, "router") || strings.HasPrefix(them, "httpapi") || strings.HasPrefix(them, "store") || strings.HasPrefix(them, "cmd") || strings.HasPrefix(them, "mocks") && !fake) {
					t.Errorf("%s imports %s: adapters know nothing of the router, HTTP layer or store", me, imp)
				}
			case me == "provider":
				if own && imp != module && them != "config" && them != "adapters/httpx" {
					t.Errorf("provider imports %s: a descriptor names no provider, router, HTTP layer or store", imp)
				}
			case me == "outbox":
				if own && imp != module {
					t.Errorf("outbox imports %s: delivery knows the domain only", imp)
				}
			case me == "ledger":
				if own && imp != module {
					t.Errorf("ledger imports %s: the log knows the domain and the store contract only", imp)
				}
			case strings.HasPrefix(me, "store/"):
				if own && (strings.HasPrefix(them, "router") || strings.HasPrefix(them, "httpapi") || strings.HasPrefix(them, "adapters") || strings.HasPrefix(them, "cmd")) {
					t.Errorf("%s imports %s: the store knows nothing of HTTP, routing or providers", me, imp)
				}
			case me == "httpapi":
				if own && (strings.HasPrefix(them, "store/") || strings.HasPrefix(them, "adapters/") || strings.HasPrefix(them, "cmd")) {
					t.Errorf("httpapi imports %s: it reaches stores and adapters only through interfaces", imp)
				}
			}
			if own && strings.HasPrefix(them, "cmd") {
				t.Errorf("%s imports the command %s", me, imp)
			}
		}
	}
}

// The shared helper packages of adapters/ and mocks/: every other package
// under them is a provider's (its adapter, or its fake).
var (
	adapterHelpers = []string{"adapters/httpx", "adapters/breaker", "adapters/oauth", "adapters/twiliohook", "adapters/internal/"}
	mockHelpers    = []string{"mocks/fault", "mocks/bearer", "mocks/speccheck"}
)

func isOneOf(p string, list []string) bool {
	for _, h := range list {
		if p == h || (strings.HasSuffix(h, "/") && strings.HasPrefix(p, h)) {
			return true
		}
	}
	return false
}

// provider returns the provider package p belongs to ("adapters/zoom" for
// adapters/zoom and below, likewise for mocks/zoom), or "" for the helpers,
// the mocks' own package and everything else.
func provider(p string) string {
	for _, tree := range []string{"adapters/", "mocks/"} {
		rest, ok := strings.CutPrefix(p, tree)
		if !ok || rest == "" || isOneOf(p, adapterHelpers) || isOneOf(p, mockHelpers) {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		return tree + name
	}
	return ""
}

// depViolations returns what is wrong with a package (me, relative to the
// module) reaching deps, directly or not:
//   - the domain package reaches only the standard library;
//   - router reaches no adapter, HTTP layer, store implementation or fake,
//     and not net/http;
//   - a package under adapters/ reaches no provider's adapter but its own
//     (the shared helpers are allowed);
//   - a provider's fake, mocks/<provider>, reaches no package of the module
//     but the domain and the fakes' own helpers (fault, bearer, speccheck).
func depViolations(me string, deps []string) []string {
	var out []string
	for _, dep := range deps {
		them := rel(dep)
		own := strings.HasPrefix(dep, module)
		switch {
		case me == ".":
			if !isStd(dep) {
				out = append(out, "the domain package reaches "+dep+": it may reach only the standard library")
			}
		case me == "router" || strings.HasPrefix(me, "router/"):
			if dep == "net/http" || (own && (strings.HasPrefix(them, "adapters/") || strings.HasPrefix(them, "httpapi") || strings.HasPrefix(them, "store/") || strings.HasPrefix(them, "mocks"))) {
				out = append(out, me+" reaches "+dep+": the router knows no provider, no HTTP and no store implementation")
			}
		case strings.HasPrefix(me, "adapters/"):
			if p := provider(them); own && p != "" && p != provider(me) && strings.HasPrefix(p, "adapters/") {
				out = append(out, me+" reaches "+dep+": an adapter knows no other provider's adapter")
			}
		case provider(me) != "" && strings.HasPrefix(me, "mocks/"):
			if own && them != "." && !isOneOf(them, mockHelpers) {
				out = append(out, me+" reaches "+dep+": a provider's fake knows only the domain and the fakes' helpers")
			}
		}
	}
	return out
}

// TestTransitiveImports checks the import rules over every package a
// package reaches, not only those it names (as tailscale's deptest does
// with `go list -deps`): a rule kept by each import can still be broken
// through a helper.
func TestTransitiveImports(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, v := range depViolations(rel(p.ImportPath), p.Deps) {
			t.Error(v)
		}
	}
}

// TestDepViolations: the rules of TestTransitiveImports catch each kind of
// violation, and pass what is allowed.
func TestDepViolations(t *testing.T) {
	for _, tt := range []struct {
		me   string
		deps []string
		bad  int
	}{
		{".", []string{"errors", "net/http", "time"}, 0},
		{".", []string{"errors", "github.com/sirupsen/logrus"}, 1},
		{"router", []string{module, "context", "github.com/sirupsen/logrus"}, 0},
		{"router", []string{module, "net/http"}, 1},
		{"router", []string{module + "/adapters/httpx", module + "/store/sqlite"}, 2},
		{"adapters/zoom", []string{module, module + "/adapters/httpx", module + "/adapters/oauth", module + "/adapters/internal/joinlink"}, 0},
		{"adapters/zoom", []string{module + "/adapters/whatsapp"}, 1},
		{"adapters/teams", []string{module + "/adapters/agent", module + "/adapters/zoom/sub"}, 2},
		{"adapters/zoom/sub", []string{module + "/adapters/zoom"}, 0},
		{"adapters/httpx", []string{module + "/adapters/pstn"}, 1},
		{"mocks/zoom", []string{module, module + "/mocks/fault", module + "/mocks/bearer", "net/http"}, 0},
		{"mocks/zoom", []string{module + "/mocks/twilio"}, 1},
		{"mocks/twilio", []string{module + "/adapters/twiliohook", module + "/router"}, 2},
		{"mocks/fault", []string{module}, 0},
	} {
		if got := depViolations(tt.me, tt.deps); len(got) != tt.bad {
			t.Errorf("depViolations(%s, %v) = %q, want %d violations", tt.me, tt.deps, got, tt.bad)
		}
	}
}

// TestPackageDocs checks that every package has a doc comment and that every
// exported name's comment starts with its name (STYLE.md point 15).
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		fset := token.NewFileSet()
		hasDoc := false
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				hasDoc = true
			}
			checkExportedDocs(t, fset, file)
		}
		if !hasDoc {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

func exported(name string) bool {
	r := []rune(name)
	return len(r) > 0 && unicode.IsUpper(r[0])
}

func checkExportedDocs(t *testing.T, fset *token.FileSet, file *ast.File) {
	t.Helper()
	check := func(name string, doc *ast.CommentGroup, pos token.Pos) {
		if !exported(name) {
			return
		}
		if doc == nil {
			t.Errorf("%s: exported %s has no comment", fset.Position(pos), name)
			return
		}
		text := doc.Text()
		if !startsWithName(text, name) {
			t.Errorf("%s: the comment of %s does not start with its name: %q", fset.Position(pos), name, firstLine(text))
		}
	}
	for _, d := range file.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv != nil {
				// Methods of unexported types are not part of the API.
				if !exported(recvName(d.Recv)) {
					continue
				}
			}
			check(d.Name.Name, d.Doc, d.Pos())
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					doc := s.Doc
					if doc == nil {
						doc = d.Doc
					}
					check(s.Name.Name, doc, s.Pos())
				case *ast.ValueSpec:
					// A grouped const or var block documents its members together.
					if d.Lparen.IsValid() {
						continue
					}
					for _, n := range s.Names {
						doc := s.Doc
						if doc == nil {
							doc = d.Doc
						}
						check(n.Name, doc, n.Pos())
					}
				}
			}
		}
	}
}

// startsWithName reports whether a doc comment starts with the name (or
// "A name", "An name", "The name") followed by a non-identifier character.
func startsWithName(text, name string) bool {
	for _, article := range []string{"", "A ", "An ", "The "} {
		rest, ok := strings.CutPrefix(text, article+name)
		if !ok {
			continue
		}
		if rest == "" {
			return true
		}
		r := []rune(rest)[0]
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			return true
		}
	}
	return false
}

func recvName(fl *ast.FieldList) string {
	if fl == nil || len(fl.List) == 0 {
		return ""
	}
	expr := fl.List[0].Type
	if s, ok := expr.(*ast.StarExpr); ok {
		expr = s.X
	}
	switch e := expr.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.IndexExpr:
		if id, ok := e.X.(*ast.Ident); ok {
			return id.Name
		}
	}
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// MaxRouterFunc is the most lines a function of the routing core may have:
// the code where "never ring twice, fail over fast" lives stays readable
// (the attempt is a pure decision function and a thin driver).
const MaxRouterFunc = 60

func TestRouterFunctionsAreShort(t *testing.T) {
	fs := token.NewFileSet()
	files, err := filepath.Glob("router/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("router sources: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fs, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := fs.Position(fd.End()).Line - fs.Position(fd.Pos()).Line + 1; n > MaxRouterFunc {
				t.Errorf("%s: %s is %d lines, more than %d", f, fd.Name.Name, n, MaxRouterFunc)
			}
		}
	}
}

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
	GoFiles    []string
	Standard   bool
}

// listPackages runs `go list` over the module.
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

package sdk_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A plugin imports only sdk and sdk/sdktest: the plugin protocol (shared
// and its generated code, go-plugin, hclog) and the host stay behind the
// SDK, so they can change without breaking plugins.
func forbiddenForPlugins(path string) bool {
	switch {
	case path == "github.com/argusmcp/argus/shared",
		strings.HasPrefix(path, "github.com/argusmcp/argus/shared/proto/"),
		strings.HasPrefix(path, "github.com/argusmcp/argus/host/"),
		strings.HasPrefix(path, "github.com/argusmcp/argus/sdk/internal/"),
		path == "github.com/hashicorp/go-plugin",
		path == "github.com/hashicorp/go-hclog":
		return true
	}
	return false
}

// TestPluginsImportOnlyTheSDK scans every Go file (tests included) of the
// built-in plugins and the examples, which are written as any plugin
// author would write them.
func TestPluginsImportOnlyTheSDK(t *testing.T) {
	for _, dir := range []string{"../plugins", "../examples"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); forbiddenForPlugins(p) {
					t.Errorf("%s imports %s; a plugin imports only sdk and sdk/sdktest", path, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestSDKExposesNoWireTypes checks the exported API of sdk and sdktest
// (signatures, exported fields, interface methods) for types of the
// packages plugins must not import.
func TestSDKExposesNoWireTypes(t *testing.T) {
	for _, dir := range []string{".", "sdktest"} {
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			banned := map[string]string{} // local name -> import path
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !forbiddenForPlugins(p) {
					continue
				}
				name := p[strings.LastIndex(p, "/")+1:]
				if name == "go-hclog" {
					name = "hclog"
				}
				if name == "go-plugin" {
					name = "plugin"
				}
				if imp.Name != nil {
					name = imp.Name.Name
				}
				banned[name] = p
			}
			report := func(what string, n ast.Node) {
				ast.Inspect(n, func(n ast.Node) bool {
					if sel, ok := n.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && banned[id.Name] != "" {
							t.Errorf("%s: exported %s uses %s.%s (%s)", fset.Position(sel.Pos()), what, id.Name, sel.Sel.Name, banned[id.Name])
						}
					}
					return true
				})
			}
			for _, decl := range f.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
						continue
					}
					report(d.Name.Name, d.Type)
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						switch s := spec.(type) {
						case *ast.TypeSpec:
							if s.Name.IsExported() {
								reportType(s.Name.Name, s.Type, report)
							}
						case *ast.ValueSpec:
							for _, n := range s.Names {
								if n.IsExported() && s.Type != nil {
									report(n.Name, s.Type)
								}
							}
						}
					}
				}
			}
		}
		if checked == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
	}
}

// reportType checks a type's exported parts: all of it, except the
// unexported fields of structs and methods of interfaces.
func reportType(name string, typ ast.Expr, report func(string, ast.Node)) {
	var fields *ast.FieldList
	switch tt := typ.(type) {
	case *ast.StructType:
		fields = tt.Fields
	case *ast.InterfaceType:
		fields = tt.Methods
	default:
		report(name, typ)
		return
	}
	for _, f := range fields.List {
		if len(f.Names) == 0 { // embedded
			if id, ok := f.Type.(*ast.Ident); ok && !id.IsExported() {
				continue
			}
			report(name, f.Type)
		}
		for _, n := range f.Names {
			if n.IsExported() {
				report(name+"."+n.Name, f.Type)
			}
		}
	}
}

func exportedRecv(recv *ast.FieldList) bool {
	t := recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}

package mxtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// examplesDir returns the examples folder of this module.
func examplesDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "examples")
}

// exampleFiles returns the Go files of each example folder, tests left
// out, parsed, by folder name.
func exampleFiles(t *testing.T) map[string][]*ast.File {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(examplesDir(t), "*"))
	if err != nil {
		t.Fatal(err)
	}
	examples := map[string][]*ast.File{}
	for _, dir := range dirs {
		names, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			examples[filepath.Base(dir)] = append(examples[filepath.Base(dir)], f)
		}
	}
	if len(examples) == 0 {
		t.Fatal("no examples found")
	}
	return examples
}

// publicImport reports whether an example may import path: anything but
// an internal package of this module, which a copy could not import.
func publicImport(path string) bool {
	return !strings.HasPrefix(path, "github.com/mxreplace/mx/") || !strings.Contains(path+"/", "/internal/")
}

// TestExampleImports: an example imports only public packages.
func TestExampleImports(t *testing.T) {
	for name, files := range exampleFiles(t) {
		for _, f := range files {
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !publicImport(path) {
					t.Errorf("examples/%s imports %s: a copy of the folder would not build", name, path)
				}
			}
		}
	}
}

// TestExampleServers: every example program serves with core.NewServer
// and core.Run. So it has their timeouts, header cap and clean shutdown.
func TestExampleServers(t *testing.T) {
	for name := range exampleFiles(t) {
		b, err := os.ReadFile(filepath.Join(examplesDir(t), name, "main.go"))
		if err != nil {
			continue // a library package, such as examples/demo
		}
		for _, call := range []string{"core.NewServer(", "core.Run("} {
			if !strings.Contains(string(b), call) {
				t.Errorf("examples/%s/main.go does not call %s...)", name, call)
			}
		}
		if strings.Contains(string(b), "http.ListenAndServe") || strings.Contains(string(b), "&http.Server{") {
			t.Errorf("examples/%s/main.go makes a server of its own", name)
		}
	}
}

// TestExampleCopies copies each example folder, tests left out, into a
// new module that depends on this one through a replace directive. Each
// copy must build after go mod tidy: that is what a user does.
func TestExampleCopies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example in a module of its own")
	}
	root := filepath.Dir(examplesDir(t))
	for name := range exampleFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			names, _ := filepath.Glob(filepath.Join(root, "examples", name, "*.go"))
			for _, src := range names {
				if strings.HasSuffix(src, "_test.go") {
					continue
				}
				b, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mod := "module example.com/copy\n\ngo 1.25.0\n\n" +
				"require github.com/mxreplace/mx v0.0.0\n\n" +
				"replace github.com/mxreplace/mx => " + root + "\n"
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"mod", "tidy"}, {"build", "./..."}} {
				cmd := exec.Command("go", args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s in a copy of examples/%s: %v\n%s", strings.Join(args, " "), name, err, out)
				}
			}
		})
	}
}

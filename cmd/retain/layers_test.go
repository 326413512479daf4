package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestImportLayers enforces the one-way import rule of the repository:
//
//	datasets <- features <- model <- train
//	serve may import model, features, datasets and proto
//	nothing imports train, serve or cmd (except cmd itself)
//
// It asks the go command for every package's imports, so it sees the same
// graph the compiler does.
func TestImportLayers(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "retain/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// allowed[layer] = layers it may import.
	allowed := map[string][]string{
		"datasets": {"datasets"},
		"features": {"datasets", "features"},
		"model":    {"datasets", "features", "model"},
		"train":    {"datasets", "features", "model", "train"},
		"serve":    {"datasets", "features", "model", "proto", "serve"},
		"proto":    {"proto"},
		"cmd":      {"datasets", "features", "model", "train", "serve", "proto", "cmd"},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		seen++
		from := layer(p.ImportPath)
		ok, known := allowed[from]
		if !known {
			t.Errorf("package %s is outside the known top-level layers", p.ImportPath)
			continue
		}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			if imp != "retain" && !strings.HasPrefix(imp, "retain/") {
				continue
			}
			to := layer(imp)
			if !contains(ok, to) {
				t.Errorf("%s imports %s: %s may not import %s", p.ImportPath, imp, from, to)
			}
		}
	}
	if seen < 3 {
		t.Fatalf("go list reported only %d packages; the check saw nothing", seen)
	}
}

// layer returns the top-level directory of a retain import path.
func layer(path string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(path, "retain"), "/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

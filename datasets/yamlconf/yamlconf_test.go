package yamlconf

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// src's line numbers are what the Line cases below expect: count them.
const src = `name: x          # line 1
sources:         # line 2
  - file: a.csv  # line 3
    kind:        # line 4
      map: {a: b}  # line 5
  - &second      # line 6
    file: b.csv  # line 7
again: *second   # line 8
`

func TestLine(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path []any
		want int
	}{
		{nil, 1},                                           // the top mapping starts on line 1
		{[]any{"name"}, 1},                                 // a key's own line
		{[]any{"sources"}, 2},                              //
		{[]any{"sources", 0}, 3},                           // a list element's line
		{[]any{"sources", 0, "kind", "map"}, 5},            // nested keys
		{[]any{"sources", 0, "kind", "map", "a"}, 5},       // flow mapping on one line
		{[]any{"sources", 1, "file"}, 7},                   // element with an anchor
		{[]any{"again", "file"}, 7},                        // through an alias to the anchored node
		{[]any{"sources", 0, "nope"}, 3},                   // missing key: deepest node found
		{[]any{"sources", 9, "file"}, 2},                   // index past the end
		{[]any{"sources", -1}, 2},                          // negative index: no panic
		{[]any{"name", "deeper"}, 1},                       // a scalar has no keys
		{[]any{"sources", "file"}, 2},                      // a key into a list
		{[]any{"sources", 0, "kind", "map", 0, "x", 3}, 5}, // an index into a mapping
	}
	for _, c := range cases {
		// Both the document node and its top node are accepted as root.
		if got := Line(&doc, c.path); got != c.want {
			t.Errorf("Line(doc, %v) = %d, want %d", c.path, got, c.want)
		}
		if got := Line(doc.Content[0], c.path); got != c.want {
			t.Errorf("Line(top, %v) = %d, want %d", c.path, got, c.want)
		}
	}
	if got := Line(nil, []any{"a"}); got != 0 {
		t.Errorf("Line(nil) = %d, want 0", got)
	}
	if got := Line(&yaml.Node{Kind: yaml.DocumentNode}, []any{"a"}); got != 0 {
		t.Errorf("Line(empty document) = %d, want 0", got)
	}
}

func TestPath(t *testing.T) {
	cases := []struct {
		path []any
		want string
	}{
		{nil, ""},
		{[]any{"rules"}, "rules"},
		{[]any{"rules", 2, "when", "flags", 0}, "rules[2].when.flags[0]"},
		{[]any{0, "a"}, "[0].a"},
		{[]any{"sources", 0, "transactions", "kind", "map"}, "sources[0].transactions.kind.map"},
	}
	for _, c := range cases {
		if got := Path(c.path); got != c.want {
			t.Errorf("Path(%v) = %q, want %q", c.path, got, c.want)
		}
	}
}

func TestWithCopies(t *testing.T) {
	parent := make([]any, 1, 8) // spare capacity: a plain append would share it
	parent[0] = "rules"
	a := With(parent, 0)
	b := With(parent, 1)
	if Path(a) != "rules[0]" || Path(b) != "rules[1]" {
		t.Fatalf("siblings share storage: %v %v", a, b)
	}
	if len(parent) != 1 {
		t.Fatalf("parent changed: %v", parent)
	}
}

func TestErrLine(t *testing.T) {
	var v map[string]any
	// A mapping value where none may be: yaml.v3 reports "yaml: line 2:
	// mapping values are not allowed in this context".
	err := yaml.Unmarshal([]byte("a: 1\nb: c: d\n"), &v)
	if err == nil {
		t.Fatal("want a syntax error")
	}
	if got := ErrLine(err); got != 2 {
		t.Errorf("ErrLine(%q) = %d, want 2", err, got)
	}
	if got := ErrLine(errors.New("no number here")); got != 0 {
		t.Errorf("ErrLine without a line = %d, want 0", got)
	}
	if got := ErrLine(errors.New("yaml: line 12: did not find expected key; line 40")); got != 12 {
		t.Errorf("ErrLine picks the first line: got %d, want 12", got)
	}
}

func TestWhere(t *testing.T) {
	cases := []struct {
		file string
		line int
		key  string
		want string
	}{
		{"m.yaml", 0, "", "m.yaml"},
		{"m.yaml", 3, "", "m.yaml:3"},
		{"m.yaml", 0, "sources[0]", "m.yaml: sources[0]"},
		{"m.yaml", 3, "sources[0]", "m.yaml:3: sources[0]"},
	}
	for _, c := range cases {
		if got := Where(c.file, c.line, c.key); got != c.want {
			t.Errorf("Where(%q, %d, %q) = %q, want %q", c.file, c.line, c.key, got, c.want)
		}
	}
}

// FuzzLine: Line never panics on any tree yaml.v3 builds, for paths of
// keys and indices taken from the input, and returns 0, a line of the
// input, or the line just past it (where yaml.v3 puts an empty node at the
// end, as for "---").
func FuzzLine(f *testing.F) {
	f.Add(src, "sources", 1, "file")
	f.Add("a: &x [1, *x]\n", "a", 1, "b")
	f.Add("- - - 1\n", "", -1, "")
	f.Fuzz(func(t *testing.T, in, k1 string, i int, k2 string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(in), &doc) != nil {
			return
		}
		// YAML line breaks: \n, \r\n, a lone \r, and NEL, LS, PS.
		lines := 1 + strings.Count(strings.ReplaceAll(in, "\r\n", "\n"), "\n") +
			strings.Count(strings.ReplaceAll(in, "\r\n", ""), "\r") +
			strings.Count(in, "\u0085") + strings.Count(in, "\u2028") + strings.Count(in, "\u2029")
		for _, p := range [][]any{nil, {k1}, {i}, {k1, i}, {k1, i, k2}, {i, k2, i}} {
			if got := Line(&doc, p); got < 0 || got > lines+1 {
				t.Errorf("Line(%v) = %d; the input has %d lines", p, got, lines)
			}
		}
	})
}

package yamlconf

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxAliasHops bounds alias chasing, so that a malformed tree cannot loop.
const maxAliasHops = 100

// With returns a new key path: path followed by k. It never shares path's
// backing array, so sibling paths built from one parent stay independent.
func With(path []any, k ...any) []any {
	return append(append([]any(nil), path...), k...)
}

// Path prints a key path: strings (and anything else that is not an int)
// joined by dots, ints as [i] indices: ("rules", 2, "when") is
// "rules[2].when".
func Path(path []any) string {
	var b strings.Builder
	for _, k := range path {
		switch k := k.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, k)
		}
	}
	return b.String()
}

// Deref follows alias nodes to the node they stand for.
func Deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasHops; i++ {
		n = n.Alias
	}
	return n
}

// Line returns the line of the node at path below root (a document node
// or its top node): for a string key the line of the key, for an int the
// line of that list element. Where the path leaves the tree it returns the
// line of the deepest node found on the way; 0 when root is nil.
func Line(root *yaml.Node, path []any) int {
	n := root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	n = Deref(n)
	if n == nil {
		return 0
	}
	line := n.Line
	for _, k := range path {
		n = Deref(n)
		if n == nil {
			break
		}
		var next *yaml.Node
		switch k := k.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						line, next = n.Content[i].Line, n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

var errLineRE = regexp.MustCompile(`line ([0-9]+)`)

// ErrLine returns the first line number a YAML error message mentions
// ("yaml: line 3: ..."), or 0 when it names none.
func ErrLine(err error) int {
	if m := errLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// Where prints a place in a file as errors show it: "file", "file:line"
// when line > 0, then ": key" when key is not empty.
func Where(file string, line int, key string) string {
	where := file
	if line > 0 {
		where += ":" + strconv.Itoa(line)
	}
	if key != "" {
		where += ": " + key
	}
	return where
}

package mapping

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed mappings/*.yaml
var builtins embed.FS

// BuiltinNames lists the mappings shipped with retain, by name (the file
// name without .yaml).
func BuiltinNames() []string {
	ents, err := fs.ReadDir(builtins, "mappings")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Builtin returns the shipped mapping called name, such as "cdnow".
func Builtin(name string) (*Mapping, error) {
	if strings.ContainsAny(name, "/\\.") || name == "" {
		return nil, fmt.Errorf("mapping: no built-in mapping %q (have %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	data, err := builtins.ReadFile("mappings/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("mapping: no built-in mapping %q (have %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return Parse(data, "builtin:"+name+".yaml")
}

// LoadNamed returns the built-in mapping called nameOrPath when there is
// one and nameOrPath is not a file name with an extension, else the mapping
// file at nameOrPath.
func LoadNamed(nameOrPath string) (*Mapping, error) {
	if !strings.ContainsAny(nameOrPath, "/\\.") {
		for _, n := range BuiltinNames() {
			if n == nameOrPath {
				return Builtin(n)
			}
		}
	}
	return Load(nameOrPath)
}

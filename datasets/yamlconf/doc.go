// Package yamlconf holds the small helpers that the YAML configuration
// readers (datasets/mapping for import mappings, serve/playbook for
// retention playbooks) share for saying where in a file a problem is: a
// key path such as ("sources", 0, "kind"), its printed form
// "sources[0].kind", the line of the node it names in a parsed yaml.Node
// tree, and the line a yaml.v3 error message mentions.
package yamlconf

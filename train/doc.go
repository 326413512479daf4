// Package train trains, calibrates and evaluates retain's model offline
// against baselines. Nothing imports train except cmd/retain.
package train

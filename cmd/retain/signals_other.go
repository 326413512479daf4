//go:build !unix

package main

import "os"

// rescoreSignals: no SIGUSR1 here; rescorings run on their schedule only.
var rescoreSignals []os.Signal

//go:build unix

package main

import (
	"os"
	"syscall"
)

// rescoreSignals make `retain serve --alert-webhook` rescore every member
// at once (docs/alerts.md).
var rescoreSignals = []os.Signal{syscall.SIGUSR1}

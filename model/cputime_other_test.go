//go:build !unix

package model

import "time"

// processCPU returns 0: there is no portable CPU clock here, and the
// benchmarks then report no per-CPU-second rate.
func processCPU() time.Duration { return 0 }

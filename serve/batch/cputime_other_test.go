//go:build !unix

package batch_test

func cpuSeconds() float64 { return 0 }

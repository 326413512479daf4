//go:build !linux

package features

import "unsafe"

func adviseHuge(p unsafe.Pointer, n uintptr) {}

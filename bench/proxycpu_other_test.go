//go:build !linux

package bench_test

import "time"

// ownCPU is not measured off Linux.
func ownCPU() (time.Duration, bool) { return 0, false }

// childCPU is not measured off Linux.
func childCPU(int) (time.Duration, bool) { return 0, false }

//go:build !linux

package bench_test

import "time"

// selfCPU is not measured off Linux.
func selfCPU() (time.Duration, bool) { return 0, false }

// procCPU is not measured off Linux.
func procCPU(int) (time.Duration, bool) { return 0, false }

//go:build !unix

package bench

import "time"

// processCPU is unknown here.
func processCPU() (time.Duration, int64) { return 0, 0 }

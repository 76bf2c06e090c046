//go:build unix

package bench

import (
	"runtime"
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the process has used so
// far, and its peak resident set in bytes.
func processCPU() (time.Duration, int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	rss := int64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		rss *= 1024 // kilobytes but on macOS
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), rss
}

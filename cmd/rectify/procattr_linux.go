package main

import "syscall"

// childAttr makes a child rectify die with the process that started it, so
// that a benchmark or test killed half-way leaves no server running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

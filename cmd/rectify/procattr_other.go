//go:build !linux

package main

import "syscall"

// childAttr: elsewhere a child outlives a parent killed half-way.
func childAttr() *syscall.SysProcAttr { return nil }

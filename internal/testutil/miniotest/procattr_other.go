//go:build !linux

package miniotest

import "syscall"

// sysProcAttr returns no special attributes outside Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }

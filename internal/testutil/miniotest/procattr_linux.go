package miniotest

import "syscall"

// sysProcAttr makes the kernel kill the server when the test process dies,
// so an aborted test run leaves no server behind. (Pdeathsig fires when the
// starting OS thread exits; Go only ends threads whose goroutine exits while
// locked to them, which tests do not do.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package testserver

import "syscall"

// sysProcAttr makes the kernel kill a server when the test binary dies
// without running its cleanups (a panic or a -timeout), so no server
// outlives its test. Pdeathsig fires when the thread that started the
// server exits; Go only ends a thread when a goroutine that locked it
// (runtime.LockOSThread, e.g. to enter a network namespace) exits without
// unlocking, so do not start servers from such a goroutine.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

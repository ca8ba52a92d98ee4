//go:build unix

package loader

import "syscall"

const oNonblock = syscall.O_NONBLOCK

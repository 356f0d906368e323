package server

import "syscall"

const syscallEADDRINUSE = syscall.EADDRINUSE

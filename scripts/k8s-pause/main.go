// Command pause is the sandbox ("pause") container of the local cluster that
// scripts/k8s-local.sh brings up: no image registry is reachable there, so the script
// builds this static binary and imports it as choreograph.local/pause:3.
//
// It holds the pod's namespaces open and does nothing else: it sleeps until SIGTERM or
// SIGINT, and, being PID 1 when a pod shares its process namespace, reaps orphans.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

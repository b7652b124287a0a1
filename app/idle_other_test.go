//go:build !linux

package app

// cleanupPriorities are the priorities the CLI's cleanup may report on
// this OS.
var cleanupPriorities = []string{"normal"}

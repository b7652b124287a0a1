//go:build !linux

package app

const wantPriority = "normal"

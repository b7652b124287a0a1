//go:build !linux

package app

// onIdleThread runs fn; lowering one thread's priority is Linux-only.
func onIdleThread(fn func(priority string)) {
	fn("normal")
}

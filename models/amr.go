package models

import "strings"

// Authentication methods a session records (RFC 8176 names where one
// exists), in the order they were proved.
const (
	MethodPassword = "pwd"
	MethodOTP      = "otp"
	MethodWebAuthn = "webauthn"
	MethodRecovery = "recovery"
)

// AMR is how a session was made: its methods joined by commas ("pwd,otp"),
// as the sessions.amr column holds them.
type AMR string

// NewAMR joins methods into an AMR.
func NewAMR(methods ...string) AMR { return AMR(strings.Join(methods, ",")) }

// Has reports whether method was proved.
func (a AMR) Has(method string) bool {
	for rest := string(a); rest != ""; { // no iterator: the session cache asks per lookup
		var m string
		m, rest, _ = strings.Cut(rest, ",")
		if m == method {
			return true
		}
	}
	return false
}

// With adds method (once).
func (a AMR) With(method string) AMR {
	switch {
	case a.Has(method):
		return a
	case a == "":
		return AMR(method)
	}
	return a + "," + AMR(method)
}

// List is the methods as a slice, for JSON: never nil.
func (a AMR) List() []string {
	if a == "" {
		return []string{}
	}
	return strings.Split(string(a), ",")
}

// MultiFactor reports whether a second factor was proved: a one-time or
// recovery code, or a passkey (which is itself something held plus a PIN
// or biometric, user verification being required when it signs in alone).
func (a AMR) MultiFactor() bool {
	return a.Has(MethodOTP) || a.Has(MethodWebAuthn) || a.Has(MethodRecovery)
}

// amrMethods are the methods the session cache can hold, one bit each, in
// the order an AMR lists them. A session made with a method not listed
// here is not cached: add new methods here.
var amrMethods = [...]string{MethodPassword, MethodOTP, MethodWebAuthn, MethodRecovery}

// amrByBits is every AMR the cache can hold, by its bits.
var amrByBits = func() (out [1 << len(amrMethods)]AMR) {
	for bits := range out {
		var a AMR
		for i, m := range amrMethods {
			if bits&(1<<i) != 0 {
				a = a.With(m)
			}
		}
		out[bits] = a
	}
	return out
}()

// cacheBits is a as the session cache holds it; false when it cannot.
func (a AMR) cacheBits() (uint8, bool) {
	var bits uint8
	for i, m := range amrMethods {
		if a.Has(m) {
			bits |= 1 << i
		}
	}
	return bits, amrByBits[bits] == a
}

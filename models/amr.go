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
	for m := range strings.SplitSeq(string(a), ",") {
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

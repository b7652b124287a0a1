package models

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum (m = 19 MiB, t = 2, p = 1).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16

	// MaxPasswordBytes bounds what is ever hashed; longer input is refused
	// before any work is done.
	MaxPasswordBytes = 1024
	// MinPasswordBytes is the shortest password accepted for a new account.
	MinPasswordBytes = 8
)

// HashPassword returns an argon2id PHC string with a fresh salt.
func HashPassword(password string) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword validates a new password's length (bytes, untrimmed).
func CheckPassword(password string) error {
	switch {
	case len(password) < MinPasswordBytes:
		return Invalid("password", "must be at least %d characters", MinPasswordBytes)
	case len(password) > MaxPasswordBytes:
		return Invalid("password", "must be at most %d bytes", MaxPasswordBytes)
	}
	return nil
}

// VerifyPassword reports whether password matches the PHC string. A
// malformed hash never matches.
func VerifyPassword(phc, password string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is verified against when the email is unknown, so an unknown
// user costs the same time as a wrong password.
var dummyHash = func() string {
	h, _ := HashPassword("dummy-password-for-timing")
	return h
}()

// VerifyDummy burns the time of one verification.
func VerifyDummy(password string) { VerifyPassword(dummyHash, password) }

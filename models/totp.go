package models

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP as every authenticator app reads it: RFC 6238, SHA-1, 6 digits,
// 30-second steps, codes of the step before and after accepted too.
const (
	totpPeriod = 30
	totpSkew   = 1
	// TOTPDigits is the length of a one-time code.
	TOTPDigits = 6
)

// TOTPKey is a new authenticator key, shown once while it is enrolled.
type TOTPKey struct {
	Secret string // base32, what the row keeps
	URL    string // otpauth://, what the QR code holds
	QR     string // the QR code as a data: URL (PNG), rendered here, never fetched
}

// NewTOTPKey makes a key for account (the email) under issuer.
func NewTOTPKey(issuer, account string) (*TOTPKey, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod, Digits: otp.DigitsSix})
	if err != nil {
		return nil, err
	}
	return totpKeyFrom(k)
}

// TOTPKeyFor rebuilds the key of a stored secret (an enrolment under way,
// shown again when its page is reloaded).
func TOTPKeyFor(issuer, account, secret string) (*TOTPKey, error) {
	k, err := otp.NewKeyFromURL("otpauth://totp/" + pathEscape(issuer) + ":" + pathEscape(account) +
		"?secret=" + secret + "&issuer=" + pathEscape(issuer) + "&period=30&digits=6&algorithm=SHA1")
	if err != nil {
		return nil, err
	}
	return totpKeyFrom(k)
}

func totpKeyFrom(k *otp.Key) (*TOTPKey, error) {
	img, err := k.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return &TOTPKey{Secret: k.Secret(), URL: k.URL(), QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())}, nil
}

func pathEscape(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "%20", ":", "%3A", "/", "%2F", "?", "%3F", "#", "%23", "&", "%26")
	return r.Replace(s)
}

// TOTPStep is the time step a code of instant t belongs to.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode is the code of secret for step (tests compute codes with it).
func TOTPCode(secret string, step int64) (string, error) {
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// MatchTOTP returns the step within ±1 of now whose code is code, or 0.
// Every candidate is compared, in constant time, so the answer's timing
// says nothing about which step matched.
func MatchTOTP(secret, code string, now time.Time) int64 {
	cur := TOTPStep(now)
	var found int64
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := TOTPCode(secret, step)
		if err != nil {
			return 0
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = step
		}
	}
	return found
}

// Recovery codes: ten per user, 10 characters from a 32-letter alphabet
// (50 bits each), shown once as "abcde-fghij" and stored as SHA-256.
const (
	RecoveryCodeCount = 10
	recoveryLen       = 10
	recoveryAlphabet  = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford's base32: no i, l, o or u
)

// newRecoveryCodes returns n fresh codes for the user to keep.
func newRecoveryCodes(n int) ([]string, error) {
	out := make([]string, n)
	buf := make([]byte, recoveryLen)
	for i := range out {
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		var b strings.Builder
		for j, x := range buf {
			if j == recoveryLen/2 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[int(x)%len(recoveryAlphabet)])
		}
		out[i] = b.String()
	}
	return out, nil
}

// NormalizeRecoveryCode is the stored form of what a user typed: lower
// case, without the dash or spaces; "" when it cannot be a recovery code.
func NormalizeRecoveryCode(s string) string {
	s = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != recoveryLen || strings.Trim(s, recoveryAlphabet) != "" {
		return ""
	}
	return s
}

func hashRecoveryCode(normalized string) string {
	sum := sha256.Sum256([]byte("recovery:" + normalized))
	return hex.EncodeToString(sum[:])
}

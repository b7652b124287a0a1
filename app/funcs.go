package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mileusna/useragent"

	"sessiond/models"
	"sessiond/static"
)

func staticFS() http.FileSystem { return http.FS(static.FS) }

var (
	assetOnce   sync.Once
	assetHashes map[string]string
)

// assetURL adds a content hash to a static file's URL, so browsers may
// cache it for a year and still see every new release.
func assetURL(name string) string {
	assetOnce.Do(func() {
		assetHashes = map[string]string{}
		_ = fs.WalkDir(static.FS, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(static.FS, path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			assetHashes[path] = hex.EncodeToString(sum[:4])
			return nil
		})
	})
	return "/static/" + name + "?v=" + assetHashes[name]
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"asset":      assetURL,
		"datetime":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"isotime":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"reltime":    func(t, now time.Time) string { return relativeTime(t, now) },
		"device":     describeDevice,
		"devicekind": deviceKind,
		"methods":    describeAMR,
		"signedIn":   describeSignIn,
		"location":   describeLocation,
		"flags":      describeSignInFlags,
		"human":      humanMessage,
		"kind":       eventLabel,
		"count":      plural,
		"num":        thousands,
		"num64":      func(n int64) string { return thousands(int(n)) },
		"plural":     func(n int64, noun string) string { return plural(int(n), noun) },
		"thousands":  func(n int64) string { return thousands(int(n)) },
	}
}

// relativeTime says "in 3 days" or "2 hours ago".
func relativeTime(t, now time.Time) string {
	d := t.Sub(now)
	future := d >= 0
	d = time.Duration(math.Abs(float64(d)))
	var n int
	var unit string
	switch {
	case d < time.Minute:
		return map[bool]string{true: "in less than a minute", false: "just now"}[future]
	case d < time.Hour:
		n, unit = int(d/time.Minute), "minute"
	case d < 48*time.Hour:
		n, unit = int(d/time.Hour), "hour"
	case d < 60*24*time.Hour:
		n, unit = int(d/(24*time.Hour)), "day"
	default:
		n, unit = int(d/(30*24*time.Hour)), "month"
	}
	if n != 1 {
		unit += "s"
	}
	if future {
		return fmt.Sprintf("in %d %s", n, unit)
	}
	return fmt.Sprintf("%d %s ago", n, unit)
}

// describeDevice reads browser and OS from a user agent: "Firefox 128 on
// Linux". Unknown agents are shown as they are, shortened.
// deviceKind is "phone", "tablet" or "computer", for a device's icon.
func deviceKind(ua string) string {
	p := useragent.Parse(ua)
	switch {
	case p.Mobile:
		return "phone"
	case p.Tablet:
		return "tablet"
	}
	return "computer"
}

func describeDevice(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	p := useragent.Parse(ua)
	browser := p.Name
	if browser == "" {
		if len(ua) > 40 {
			return ua[:40] + "…"
		}
		return ua
	}
	if v := strings.SplitN(p.Version, ".", 2)[0]; v != "" {
		browser += " " + v
	}
	if p.OS != "" {
		return browser + " on " + p.OS
	}
	return browser
}

// describeAMR says how a session was made, for people: "password + one-time code".
// describeSignIn is how a session was made, naming its provider: "corp",
// "github + one-time code", "password", "Auth.js (imported)".
func describeSignIn(a models.AMR, provider string) string {
	if provider == models.AuthJSProvider {
		return "Auth.js (imported)"
	}
	d := describeAMR(a)
	if provider != "" {
		d = strings.Replace(d, "provider", provider, 1)
	}
	return d
}

func describeAMR(a models.AMR) string {
	names := map[string]string{
		models.MethodPassword: "password", models.MethodOTP: "one-time code",
		models.MethodWebAuthn: "passkey", models.MethodRecovery: "recovery code",
		models.MethodFederated: "provider",
	}
	var parts []string
	for _, m := range a.List() {
		if n, ok := names[m]; ok {
			parts = append(parts, n)
		} else {
			parts = append(parts, m)
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, " + ")
}

package app

import (
	"net/http"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// BenchmarkProviderSignIn is one whole sign-in through the test provider
// (the button, the provider's authorize and sign-in form, the callback's
// code exchange, ID token check and UserInfo call, the session), on
// SQLite and PostgreSQL; callback is the part sessiond's callback takes.
// It only reports: go test ./app -run '^$' -bench ProviderSignIn
func BenchmarkProviderSignIn(b *testing.B) {
	for _, target := range []struct {
		name string
		open func(testing.TB) *models.DB
	}{{"sqlite", testdb.SQLite}, {"postgres", testdb.Postgres}} {
		b.Run(target.name, func(b *testing.B) {
			o := newTestOP(b, corpCallback, opAda)
			a := newTestApp(b, target.open(b), o.env("corp", map[string]string{"SIGNUP": "providers", "LOG_LEVEL": "warn"}))
			var callback time.Duration
			for b.Loop() {
				c := a.client()
				c.page("/login")
				resp := c.form("/login/provider/corp", nil)
				back := o.authorize(resp.Header.Get("Location"), "ada")
				start := time.Now()
				resp = c.request("GET", back.RequestURI(), nil, nil)
				callback += time.Since(start)
				if resp.StatusCode != http.StatusSeeOther {
					b.Fatalf("callback: %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(callback.Microseconds())/float64(b.N)/1000, "ms-callback/op")
		})
	}
}

package app

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// BenchmarkMeByCredential loads /api/me in one run with each way of
// authenticating: the session cookie, the same kind of session as a
// bearer token from POST /api/sessions, and an API token; in-process, in
// parallel, and reports requests per second:
//
//	go test ./app -run '^$' -bench MeByCredential -benchtime 3s
func BenchmarkMeByCredential(b *testing.B) {
	db := testdb.SQLite(b)
	if getenvDefault("SESSIOND_BENCH_DB", "sqlite") == "postgres" {
		db = testdb.Postgres(b)
	}
	a := newTestApp(b, db, map[string]string{"LOG_LEVEL": "error"})
	u := testdb.CreateUser(b, db, testdb.Name("bearer-bench-", int(time.Now().UnixNano())), models.RoleUser)
	c := a.client()
	c.login(u.Email, "password123")
	resp, v := a.nativeSignIn(`{"email":"` + u.Email + `","password":"password123"}`)
	if resp.StatusCode != 201 {
		b.Fatalf("native sign-in: %d", resp.StatusCode)
	}
	secret, _, err := models.CreateAPIToken(b.Context(), db, models.NewAPIToken{UserID: u.ID, Kind: models.TokenPersonal, Name: "bench",
		Scopes: []string{models.ScopeSessionsRead}}, a.clock.Now())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, cookie, bearer string }{
		{"cookie", c.cookie(), ""},
		{"session-bearer", "", v["token"].(string)},
		{"api-token", "", secret},
	} {
		b.Run(bc.name, func(b *testing.B) {
			handler := a.srv.Handler().Handler()
			var req fasthttp.Request
			req.SetRequestURI("/api/me")
			if bc.cookie != "" {
				req.Header.SetCookie(a.srv.cfg.CookieName(), bc.cookie)
			} else {
				req.Header.Set("Authorization", "Bearer "+bc.bearer)
			}
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				for pb.Next() {
					req.CopyTo(&ctx.Request)
					ctx.Response.Reset()
					handler(&ctx)
					if ctx.Response.StatusCode() != 200 {
						b.Errorf("%s: %d %s", bc.name, ctx.Response.StatusCode(), ctx.Response.Body())
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

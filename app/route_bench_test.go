package app

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// BenchmarkRouteOverhead runs /healthz and /api/me through the whole
// middleware chain in-process (no network, no load generator), so the cost
// a session adds to a request shows on its own:
//
//	go test ./app -run '^$' -bench RouteOverhead -benchmem
func BenchmarkRouteOverhead(b *testing.B) {
	db := testdb.SQLite(b)
	for _, bc := range []struct{ name, path, cacheTTL string }{
		{"healthz", "/healthz", "10s"},
		{"healthz-info", "/healthz", "10s"},
		{"me-cache", "/api/me", "10s"},
		{"me-nocache", "/api/me", "0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			level := "error"
			if strings.HasSuffix(bc.name, "-info") {
				level = "info" // the default: the access line is written (to a buffer here)
			}
			a := newBenchApp(b, db, map[string]string{"LOG_LEVEL": level, "SESSION_CACHE_TTL": bc.cacheTTL})
			u := testdb.CreateUser(b, db, testdb.Name("route-bench-"+bc.name+"-", int(time.Now().UnixNano())), models.RoleUser)
			c := a.client()
			c.login(u.Email, "password123")
			handler := a.srv.Handler().Handler()
			var req fasthttp.Request
			req.SetRequestURI(bc.path)
			req.Header.Set("Accept", "application/json")
			req.Header.SetCookie(a.srv.cfg.CookieName(), c.cookie())
			// In parallel, as a server runs: contention on the cache's lock
			// and the metrics shows here, not in a one-goroutine loop.
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				for pb.Next() {
					req.CopyTo(&ctx.Request)
					ctx.Response.Reset()
					handler(&ctx)
					if ctx.Response.StatusCode() != 200 {
						b.Errorf("%s: %d %s", bc.path, ctx.Response.StatusCode(), ctx.Response.Body())
						return
					}
				}
			})
		})
	}
}

// newBenchApp is newTestApp with the binary's logger: lines go through
// the same buffer as in `serve` (to io.Discard), not into a test buffer
// that grows through the whole run and would cost more than the line.
func newBenchApp(b *testing.B, db *models.DB, env map[string]string) *testApp {
	cfg := testConfig(b, db, env)
	logs := newLogBuffer(io.Discard, time.Second)
	b.Cleanup(func() { _ = logs.Close() })
	clock := testdb.NewClock()
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	srv, err := New(context.Background(), cfg, db, newLogger(level, cfg.LogFormat, logs), Options{Now: clock.Now, LogLevel: level})
	if err != nil {
		b.Fatalf("new server: %v", err)
	}
	b.Cleanup(func() { srv.Close() })
	return &testApp{t: b, srv: srv, db: db, clock: clock, logs: &testdb.SyncBuffer{}}
}

// BenchmarkBareFiberHealthz is the floor BenchmarkRouteOverhead/healthz is
// held against: a Fiber app with the one handler and no middleware.
func BenchmarkBareFiberHealthz(b *testing.B) {
	app := fiber.New()
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	handler := app.Handler()
	var req fasthttp.Request
	req.SetRequestURI("/healthz")
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			req.CopyTo(&ctx.Request)
			ctx.Response.Reset()
			handler(&ctx)
		}
	})
}

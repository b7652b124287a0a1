// Package app wires sessiond together: configuration, HTTP routes and
// handlers, rendering, the scheduler and the command line.
package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/template/html/v2"
	"github.com/valyala/fasthttp"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/views"
)

// Server is the running application: its dependencies in one struct.
type Server struct {
	cfg       Config
	db        *models.DB
	sessions  *models.SessionManager
	log       *slog.Logger
	app       *fiber.App
	views     *html.Engine
	secret    []byte
	trusted   []*net.IPNet
	hashers   *limiter
	throttle  *throttle
	proxyWarn proxyWarning
	// resetLimit counts password-reset requests per address and per IP.
	resetLimit *throttle
	// passkeyLimit counts passwordless passkey sign-ins started per IP.
	passkeyLimit *throttle
	setup        setupGate
	metrics      *metrics
	jobs         *jobs.Scheduler
	cleanup      *jobs.Cleanup
	queue        *jobs.Queue
	insights     memo[*models.Insights]
	figures      figures
	mail         *mailTemplates
	geo          *geoIP             // nil without GEOIP_DB (or when it is broken)
	webauthn     *webauthn.WebAuthn // nil: passkeys unavailable (see newWebAuthn)
	// providers are the sign-in providers (OpenID Connect, GitHub), csp the
	// Content-Security-Policy that lets forms reach their sign-in pages.
	providers []provider
	csp       atomic.Pointer[string]
	// rules are the forward-auth access rules (ACCESS_RULES); nil: none,
	// /auth/verify admits any session. SIGHUP swaps in a new set.
	rules atomic.Pointer[accessRules]

	// reloaders apply what a SIGHUP may change (see Reload).
	reloaders []reloader

	openAPI  []byte           // the OpenAPI document, built once from apiOps
	dispatch *jobs.Dispatcher // hands audit events to webhooks and AUDIT_LOG
}

// Options are the seams tests use; the zero value is production.
type Options struct {
	Now func() time.Time // the clock; time.Now when nil
	// BeforeCleanup runs at the start of every cleanup (tests make it panic).
	BeforeCleanup func(trigger string)
	// MailTLS is the TLS configuration for the mail server (tests trust
	// their own server's certificate); the system's roots when nil.
	MailTLS *tls.Config
	// AuditLog is where AUDIT_LOG=json writes; standard output when nil.
	AuditLog io.Writer
	// WebhookClient posts webhooks; one with a 10 s timeout when nil.
	WebhookClient *http.Client
	// LogLevel is the logger's level, which a reload (SIGHUP) sets from
	// LOG_LEVEL; nil keeps the logger's level as it is.
	LogLevel *slog.LevelVar
}

// New builds a server on an open, migrated database.
func New(ctx context.Context, cfg Config, db *models.DB, logger *slog.Logger, opts Options) (*Server, error) {
	queueClock := opts.Now // River keeps the database's clock unless a test sets one
	if opts.Now == nil {
		opts.Now = time.Now
	}
	policy := models.Policy{
		MaxAge: cfg.SessionMaxAge, UpdateAge: cfg.SessionUpdateAge,
		AbsoluteLifetime: cfg.SessionAbsolute, TouchInterval: cfg.SessionTouchInterval,
	}
	sessions, err := models.NewSessionManager(ctx, db, policy, opts.Now)
	if err != nil {
		return nil, err
	}
	sessions.SetCache(models.NewSessionCache(cfg.SessionCacheTTL, cfg.SessionCacheMaxEntries))
	if cfg.SessionCookieName != "" { // taking over another system's cookie: its imported sessions too
		sessions.AcceptImportedTokens()
	}
	secret := cfg.AuthSecret
	if secret == "" {
		if secret, err = models.EnsureSecret(ctx, db, "auth_secret"); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg: cfg, db: db, sessions: sessions, log: logger, secret: []byte(secret),
		trusted: parseTrusted(cfg.TrustedProxies), hashers: newLimiter(hashingSlots()), throttle: newThrottle(db, opts.Now),
		resetLimit: newResetLimit(db, opts.Now), passkeyLimit: newPasskeyLimit(db, opts.Now),
	}
	if cfg.AccessRules != "" {
		rules, err := loadAccessRules(cfg.AccessRules, opts.Now())
		if err != nil {
			return nil, err
		}
		s.rules.Store(rules)
	}
	if s.webauthn, err = newWebAuthn(&cfg); err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	s.providers = newProviders(&s.cfg, sessions.Now, s.refreshCSP)
	s.refreshCSP()
	s.metrics = newMetrics(db, sessions, logger)
	if s.views, err = newViews(); err != nil {
		return nil, err
	}
	if s.mail, err = loadMailTemplates(); err != nil {
		return nil, err
	}
	if cfg.GeoIPDB != "" {
		// A broken file costs locations, not the server: say so and go on.
		if s.geo, err = openGeoIP(cfg.GeoIPDB); err != nil {
			logger.Error("geolocation off: the GEOIP_DB file cannot be used", "error", err)
		}
	}
	sessions.OnSignIn = s.signInHook()
	s.app = fiber.New(fiber.Config{
		Immutable:             true, // fasthttp reuses buffers; strings kept past a handler must not change
		ErrorHandler:          s.handleError,
		DisableStartupMessage: true,
		BodyLimit:             64 * 1024,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		ReadBufferSize:        16 * 1024,
	})
	s.jobs = jobs.New(logger)
	s.cleanup = cleanupJob(cfg, db, logger, sessions.Now)
	s.cleanup.Before = opts.BeforeCleanup
	sessions.Cleaner = s.cleanup
	if err := s.jobs.Add(jobs.CleanupJob, cfg.CleanupSchedule, s.cleanup.Scheduled); err != nil {
		return nil, err
	}
	if s.queue, err = jobs.NewQueue(ctx, db, logger, jobs.QueueConfig{Workers: s.queueWorkers(opts), Now: queueClock}); err != nil {
		return nil, err
	}
	s.dispatch = &jobs.Dispatcher{DB: db, Queue: s.queue, Log: logger, Now: s.sessions.Now}
	if cfg.AuditLog == "json" {
		s.dispatch.AuditLog = cmp.Or[io.Writer](opts.AuditLog, os.Stdout)
	}
	if s.openAPI, err = openAPIDocument(); err != nil {
		return nil, err
	}
	// What can fail goes first: a reload that fails changes nothing after it.
	s.reloaders = append(s.reloaders, s.reloadAccessRules(), reloadLogLevel(opts.LogLevel))
	s.routes()
	s.refuseUnknownMethods()
	return s, nil
}

// refuseUnknownMethods answers 405 to methods Fiber does not know (it would
// say 400 before any middleware runs), so every undocumented method gets
// the same answer.
func (s *Server) refuseUnknownMethods() {
	srv := s.app.Server()
	inner := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Method()) {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodDelete, fiber.MethodPut,
			fiber.MethodPatch, fiber.MethodOptions, fiber.MethodTrace, fiber.MethodConnect:
			inner(ctx)
			return
		}
		ctx.Response.Header.Set(fiber.HeaderAllow, allow)
		ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
		ctx.Error("method not allowed", fiber.StatusMethodNotAllowed)
	}
}

// Handler is the Fiber app, for tests (app.Test) and the listener.
func (s *Server) Handler() *fiber.App { return s.app }

// Sessions exposes the session manager (its write counters) to tests.
func (s *Server) Sessions() *models.SessionManager { return s.sessions }

// Close releases what New acquired (not the database): it stops the
// scheduler (if Run has not already) and the session manager.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(s.jobs.Stop(ctx), s.queue.Stop(ctx), s.sessions.Close(), s.geo.Close())
}

func newViews() (*html.Engine, error) {
	engine := html.NewFileSystem(http.FS(views.FS), ".html")
	engine.AddFuncMap(templateFuncs())
	if err := engine.Load(); err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	return engine, nil
}

func (s *Server) recoverer() fiber.Handler {
	return recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			s.log.Error("panic", "request_id", requestID(c), "panic", fmt.Sprint(e))
		},
	})
}

// serve runs the HTTP server until ctx ends, then drains it. While it
// runs, the session cache follows the revocation log, and cached
// sessions' last-seen touches are written about once a second.
func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	revocations := s.sessions.WatchRevocations(func(err error) {
		s.log.Warn("revocation log unreadable; cached sessions wait for it", "error", err)
	})
	defer revocations.Close()
	// Closed (the waiting touches written) after the requests have drained.
	touches := s.sessions.WriteTouchesBehind(time.Second)
	defer touches.Close()
	go s.discoverProviders(ctx)
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(steadyListener{ln, s.log}) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.app.ShutdownWithContext(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// setupGate holds the one-time token that creates the first admin.
type setupGate struct {
	mu    sync.Mutex
	token string // empty: closed
}

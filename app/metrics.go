package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sessiond/models"
)

// figuresTTL is how stale the database-derived figures may be: a scrape
// every few seconds costs at most one set of aggregate queries per TTL.
const figuresTTL = 15 * time.Second

// metrics is the server's own Prometheus registry (no global default
// registry, so two servers in one test binary never collide).
type metrics struct {
	registry *prometheus.Registry
	duration *prometheus.HistogramVec
	// observers caches duration's histogram per route, method and status:
	// WithLabelValues hashes and checks its labels on every call.
	observers sync.Map // observerKey → prometheus.Observer
	figures   *dbCollector
	handler   fiber.Handler
}

// newMetrics registers the collectors: the database's figures and this
// process's session counters.
func newMetrics(db *models.DB, sessions *models.SessionManager, log *slog.Logger) *metrics {
	m := &metrics{registry: prometheus.NewRegistry(), figures: &dbCollector{db: db, now: sessions.Now, log: log}}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sessiond_http_request_duration_seconds",
		Help:    "HTTP request durations by route template, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method", "status"})
	m.registry.MustRegister(m.duration, m.figures, processCollector{sessions},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.handler = adaptor.HTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return m
}

// observe records one finished request under its route template (never
// the raw URL, so the label set stays bounded).
func (s *Server) observe(c *fiber.Ctx, d time.Duration) {
	route := "unmatched"
	switch r := c.Route(); {
	case r == nil:
	case r.Method != "USE":
		route = r.Path
	case r.Path != "/":
		// Answered by a prefix middleware (static files, the admin guard).
		route = strings.TrimSuffix(r.Path, "/") + "/*"
	}
	s.metrics.observer(route, c.Method(), c.Response().StatusCode()).Observe(d.Seconds())
}

type observerKey struct {
	route, method string
	status        int
}

func (m *metrics) observer(route, method string, status int) prometheus.Observer {
	k := observerKey{route, method, status}
	if o, ok := m.observers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o := m.duration.WithLabelValues(route, method, strconv.Itoa(status))
	m.observers.Store(k, o)
	return o
}

// handleMetrics serves the Prometheus text format to a scraper holding
// METRICS_TOKEN; without a configured token the route does not exist.
func (s *Server) handleMetrics(c *fiber.Ctx) error {
	if s.cfg.MetricsToken == "" {
		return fiber.ErrNotFound
	}
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	// Compare hashes so the comparison takes the same time whatever the lengths.
	want, have := sha256.Sum256([]byte(s.cfg.MetricsToken)), sha256.Sum256([]byte(got))
	if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		// Answered here, not by the error handler: a scraper is no browser
		// to send to the sign-in page, it needs the 401 itself.
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
		c.Set(fiber.HeaderCacheControl, "no-store")
		if wantsJSON(c) {
			return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "metrics: bearer token required"})
		}
		return c.Status(fiber.StatusUnauthorized).SendString("metrics: bearer token required\n")
	}
	return s.metrics.handler(c)
}

// dbCollector turns models.Figures into metrics, computing them at most
// once per figuresTTL.
//
// The *_total series read from the database are counts of rows in
// session_events and cleanup_runs: they agree with the database on every
// instance and survive restarts, but retention pruning lowers them, which
// Prometheus reads as a counter reset (rate() stays right between prunes).
type dbCollector struct {
	db   *models.DB
	now  func() time.Time
	log  *slog.Logger
	memo memo[*models.Figures]
}

var (
	descSessions    = prometheus.NewDesc("sessiond_sessions", "Sessions in the table by state.", []string{"state"}, nil)
	descExpiring    = prometheus.NewDesc("sessiond_sessions_expiring_24h", "Active sessions expiring within 24 hours.", nil, nil)
	descUsers       = prometheus.NewDesc("sessiond_users_with_sessions", "Users with at least one active session.", nil, nil)
	descEvents      = prometheus.NewDesc("sessiond_events_total", "Audit events in session_events by kind.", []string{"kind"}, nil)
	descSignIns     = prometheus.NewDesc("sessiond_signins_total", "Sign-ins by result (session.created and signin.failed events).", []string{"result"}, nil)
	descCleanupRuns = prometheus.NewDesc("sessiond_cleanup_runs_total", "Finished cleanup runs by result (cleanup_runs rows).", []string{"result"}, nil)
	descCleanupRows = prometheus.NewDesc("sessiond_cleanup_rows_total", "Expired sessions deleted by cleanup runs.", nil, nil)
	descLastCleanup = prometheus.NewDesc("sessiond_last_cleanup_success_timestamp_seconds", "When the last successful cleanup finished (0: never).", nil, nil)
	descUp          = prometheus.NewDesc("sessiond_database_figures_up", "1 when the database figures above could be read.", nil, nil)
)

func (d *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{descSessions, descExpiring, descUsers, descEvents, descSignIns,
		descCleanupRuns, descCleanupRows, descLastCleanup, descUp} {
		ch <- desc
	}
}

// figures returns the figures at most figuresTTL old; on a database error
// the last good figures are served, reported as not up.
func (d *dbCollector) figures() (*models.Figures, bool) {
	f, err := d.memo.get(figuresTTL, func() (*models.Figures, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return models.ReadFigures(ctx, d.db, d.now())
	})
	if err != nil {
		d.log.Warn("metrics: read figures", "error", err)
		return f, false
	}
	return f, true
}

// reset drops the cache (tests compare figures with the database at once).
func (d *dbCollector) reset() { d.memo.forget() }

func (d *dbCollector) Collect(ch chan<- prometheus.Metric) {
	f, ok := d.figures()
	up := 0.0
	if ok {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	if f == nil {
		return
	}
	gauge := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descSessions, int64(f.Active), "active")
	gauge(descSessions, int64(f.Expired), "expired")
	gauge(descExpiring, int64(f.ExpiringWithin24h))
	gauge(descUsers, int64(f.UsersWithSessions))
	for _, kind := range models.EventKinds {
		counter(descEvents, f.EventsByKind[kind], kind)
	}
	for kind, n := range f.EventsByKind {
		if !models.ValidEventKind(kind) {
			counter(descEvents, n, kind)
		}
	}
	counter(descSignIns, f.EventsByKind[models.EventSessionCreated], "success")
	counter(descSignIns, f.EventsByKind[models.EventSignInFailed], "failure")
	counter(descCleanupRuns, f.CleanupRunsOK, "success")
	counter(descCleanupRuns, f.CleanupRunsFailed, "error")
	counter(descCleanupRows, f.CleanupRows)
	last := 0.0
	if !f.LastCleanupSuccess.IsZero() {
		last = float64(f.LastCleanupSuccess.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descLastCleanup, prometheus.GaugeValue, last)
}

var (
	descCacheLookups  = prometheus.NewDesc("sessiond_session_cache_lookups_total", "Session cache lookups by result (this process).", []string{"result"}, nil)
	descCacheEntries  = prometheus.NewDesc("sessiond_session_cache_entries", "Sessions in this process's cache.", nil, nil)
	descCacheHitRate  = prometheus.NewDesc("sessiond_session_cache_hit_ratio", "Share of session cache lookups that were hits since start (this process).", nil, nil)
	descRefreshWrites = prometheus.NewDesc("sessiond_session_refresh_writes_total", "Session refresh writes by kind (this process).", []string{"kind"}, nil)
	descDBLookups     = prometheus.NewDesc("sessiond_session_db_lookups_total", "Session lookups that went to the database (this process).", nil, nil)
	descDBQueries     = prometheus.NewDesc("sessiond_session_db_lookup_queries_total", "Queries those lookups took: fewer on PostgreSQL, which batches lookups that arrive together (this process).", nil, nil)
)

// processCollector reports this process's counters of the session cache
// and of refresh writes: how well SESSION_CACHE_TTL works, and that
// refreshes stay at one write per session per SESSION_UPDATE_AGE.
type processCollector struct{ m *models.SessionManager }

func (processCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCacheLookups
	ch <- descCacheEntries
	ch <- descCacheHitRate
	ch <- descRefreshWrites
	ch <- descDBLookups
	ch <- descDBQueries
}

func (p processCollector) Collect(ch chan<- prometheus.Metric) {
	m := p.m
	cache := m.Cache()
	hits, misses := cache.Counts()
	ch <- prometheus.MustNewConstMetric(descCacheLookups, prometheus.CounterValue, float64(hits), "hit")
	ch <- prometheus.MustNewConstMetric(descCacheLookups, prometheus.CounterValue, float64(misses), "miss")
	ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, float64(cache.Len()))
	ch <- prometheus.MustNewConstMetric(descCacheHitRate, prometheus.GaugeValue, hitRatio(hits, misses))
	ch <- prometheus.MustNewConstMetric(descRefreshWrites, prometheus.CounterValue, float64(m.ExtendWrites.Load()), "extend")
	ch <- prometheus.MustNewConstMetric(descRefreshWrites, prometheus.CounterValue, float64(m.TouchWrites.Load()), "touch")
	ch <- prometheus.MustNewConstMetric(descDBLookups, prometheus.CounterValue, float64(m.Lookups.Load()))
	ch <- prometheus.MustNewConstMetric(descDBQueries, prometheus.CounterValue, float64(m.LookupQueries()))
}

// hitRatio is hits over lookups, 0 before the first.
func hitRatio(hits, misses int64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses)
}

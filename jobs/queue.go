package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"sessiond/models"
)

// Queue is the durable delivery queue (mail, webhooks): River on
// sessiond's own database. A job is inserted in the transaction of the
// change that causes it, so it exists exactly when the change does; it is
// worked at least once (River locks a job for one worker, on PostgreSQL
// with SKIP LOCKED, so two instances never take the same one); a failed
// attempt is retried on Backoff's schedule; a job that was running when a
// process died is taken up again after RescueAfter.
//
// On SQLite River works through the single writer connection, so its
// writes queue in Go behind the application's instead of failing with
// "database is locked". On PostgreSQL it works through the application's
// pool and hears of new jobs by LISTEN on a small pool of its own.
type Queue struct {
	client   *river.Client[*sql.Tx]
	listener *pgxpool.Pool // PostgreSQL only
	working  bool
}

// QueueConfig says what a Queue runs. The zero value inserts only.
type QueueConfig struct {
	// Workers are the job kinds this process works (river.AddWorker);
	// nil makes a queue that only inserts (the command line), leaving the
	// work to the running server.
	Workers *river.Workers
	// Now is the clock retries are scheduled by; time.Now when nil.
	Now func() time.Time
	// Concurrency is how many jobs run at once; 10 when zero.
	Concurrency int
	// RescueAfter is how long a job may stay running before another
	// process takes it to have died; 5 minutes when zero.
	RescueAfter time.Duration
}

// JobTimeout bounds one attempt of a job; RescueAfter must exceed it.
const JobTimeout = time.Minute

// NewQueue builds the queue on db, which must be migrated.
func NewQueue(ctx context.Context, db *models.DB, log *slog.Logger, cfg QueueConfig) (*Queue, error) {
	q := &Queue{working: cfg.Workers != nil}
	rc := &river.Config{
		Logger:               slog.New(quietHandler{log.Handler()}),
		JobTimeout:           JobTimeout,
		MaxAttempts:          Backoff{}.attempts(),
		RescueStuckJobsAfter: cmp.Or(cfg.RescueAfter, 5*time.Minute),
		RetryPolicy:          Backoff{Now: cfg.Now},
		FetchCooldown:        50 * time.Millisecond,
	}
	if cfg.Now != nil {
		rc.Test.Time = clock(cfg.Now)
	}
	if q.working {
		rc.Workers = cfg.Workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cmp.Or(cfg.Concurrency, 10)}}
	}
	var driver riverdriver.Driver[*sql.Tx]
	switch {
	case db.Kind == models.Postgres && q.working:
		pcfg, err := pgxpool.ParseConfig(db.URL())
		if err != nil {
			return nil, fmt.Errorf("queue listener: %w", err)
		}
		pcfg.MinConns, pcfg.MaxConns = 0, 1
		if q.listener, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
			return nil, fmt.Errorf("queue listener: %w", err)
		}
		driver = riverdatabasesql.NewWithPgxListener(db.SQLDB(), q.listener)
	case db.Kind == models.Postgres:
		driver = riverdatabasesql.New(db.SQLDB())
	default:
		driver = riversqlite.New(db.SQLDB())
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		q.closeListener()
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = client
	return q, nil
}

// Enqueue inserts a job in tx, the transaction of the change that causes
// it: it is worked only if tx commits. It returns the job's id, which
// stays the same across retries (a delivery's stable id).
func (q *Queue) Enqueue(ctx context.Context, tx bun.Tx, args river.JobArgs) (int64, error) {
	res, err := q.client.InsertTx(ctx, tx.Tx, args, nil)
	if err != nil {
		return 0, models.Wrap(err, "enqueue "+args.Kind())
	}
	return res.Job.ID, nil
}

// Start begins working jobs; a queue without workers has nothing to start.
func (q *Queue) Start(ctx context.Context) error {
	if !q.working {
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start queue: %w", err)
	}
	return nil
}

// Stop fetches no more jobs and waits for the running ones to finish, or,
// when ctx ends first, cancels them (they are retried later, so nothing is
// lost). Calling it on a queue that never started is safe.
func (q *Queue) Stop(ctx context.Context) error {
	defer q.closeListener()
	if !q.working {
		return nil
	}
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cancelCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = q.client.StopAndCancel(cancelCtx)
	}
	if err != nil {
		return fmt.Errorf("stop queue: %w", err)
	}
	return nil
}

func (q *Queue) closeListener() {
	if q.listener != nil {
		q.listener.Close()
		q.listener = nil
	}
}

// Client is the River client, for what Enqueue does not cover (listing
// jobs, subscribing to their events in tests).
func (q *Queue) Client() *river.Client[*sql.Tx] { return q.client }

// Backoff is the retry schedule of every delivery: 30 s after the first
// failure, twice as long after each next one, at most an hour apart, for
// a day; then the job is discarded. Each wait varies by up to a tenth so
// that deliveries failed together do not retry together.
type Backoff struct {
	Now func() time.Time // time.Now when nil
}

const (
	backoffFirst  = 30 * time.Second
	backoffMax    = time.Hour
	backoffWithin = 24 * time.Hour
)

// Delay is the wait after the n-th failed attempt (n ≥ 1), before jitter.
func (Backoff) Delay(n int) time.Duration {
	d := backoffFirst
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// attempts is how many attempts fit in a day on this schedule.
func (b Backoff) attempts() int {
	n, total := 1, time.Duration(0)
	for total < backoffWithin {
		total += b.Delay(n)
		n++
	}
	return n
}

// NextRetry implements river.ClientRetryPolicy.
func (b Backoff) NextRetry(job *rivertype.JobRow) time.Time {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	d := b.Delay(len(job.Errors) + 1)
	jitter := time.Duration(float64(d) * 0.1 * (2*rand.Float64() - 1))
	return now().UTC().Add(d + jitter)
}

// clock makes a func() time.Time River's time generator.
type clock func() time.Time

func (c clock) Now() time.Time { return c() }
func (c clock) NowOrNil() *time.Time {
	t := c().UTC()
	return &t
}

// quietHandler passes River's warnings and errors on, not its routine
// chatter (leadership, producers starting).
type quietHandler struct{ slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}

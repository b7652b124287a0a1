package models

import (
	"context"
	"database/sql"
	"time"
)

// Figures are the database-derived numbers /metrics exports. They are read
// in a handful of indexed aggregate queries; the caller caches them.
type Figures struct {
	SessionCounts
	EventsByKind       map[string]int64
	CleanupRunsOK      int64
	CleanupRunsFailed  int64
	CleanupRows        int64
	LastCleanupSuccess time.Time // zero: never
}

// ReadFigures computes Figures at now.
func ReadFigures(ctx context.Context, db *DB, now time.Time) (*Figures, error) {
	f := &Figures{EventsByKind: map[string]int64{}}
	r := db.Read
	var err error
	if f.SessionCounts, err = CountSessionStates(ctx, db, now); err != nil {
		return nil, err
	}
	var kinds []struct {
		Kind string `bun:"kind"`
		N    int64  `bun:"n"`
	}
	err = r.NewSelect().Table("session_events").Column("kind").ColumnExpr("COUNT(*) AS n").
		Group("kind").Scan(ctx, &kinds)
	if err != nil {
		return nil, Wrap(err, "figures: events")
	}
	for _, k := range kinds {
		f.EventsByKind[k.Kind] = k.N
	}
	var runs struct {
		OK     int64 `bun:"ok"`
		Failed int64 `bun:"failed"`
		Rows   int64 `bun:"rows_deleted"`
	}
	err = r.NewSelect().Table("cleanup_runs").
		ColumnExpr("COALESCE(SUM(CASE WHEN error = '' AND finished_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS ok").
		ColumnExpr("COALESCE(SUM(CASE WHEN error <> '' THEN 1 ELSE 0 END), 0) AS failed").
		ColumnExpr("COALESCE(SUM(deleted), 0) AS rows_deleted").
		Scan(ctx, &runs)
	if err != nil {
		return nil, Wrap(err, "figures: cleanup runs")
	}
	f.CleanupRunsOK, f.CleanupRunsFailed, f.CleanupRows = runs.OK, runs.Failed, runs.Rows
	var last []time.Time
	err = r.NewSelect().Table("cleanup_runs").Column("finished_at").
		Where("error = ''").Where("finished_at IS NOT NULL").
		OrderExpr("finished_at DESC").Limit(1).Scan(ctx, &last)
	if err != nil && err != sql.ErrNoRows {
		return nil, Wrap(err, "figures: last cleanup")
	}
	if len(last) == 1 {
		f.LastCleanupSuccess = last[0]
	}
	return f, nil
}

// SessionStats is the dashboard's live counts and its latest cleanup run.
type SessionStats struct {
	SessionCounts
	LastCleanup *CleanupRun // nil: none yet
}

// GetSessionStats is the dashboard's counts and its latest cleanup run.
func GetSessionStats(ctx context.Context, db *DB, now time.Time) (*SessionStats, error) {
	c, err := CountSessionStates(ctx, db, now)
	if err != nil {
		return nil, err
	}
	st := &SessionStats{SessionCounts: c}
	runs, err := ListCleanupRuns(ctx, db, 1)
	if err != nil {
		return nil, Wrap(err, "last cleanup")
	}
	if len(runs) > 0 {
		st.LastCleanup = &runs[0]
	}
	return st, nil
}

// SessionCounts are the whole-table session figures that the dashboard,
// /metrics and the cleanup CLI all show (the one counts type, embedded
// where more goes with them); CountSessionStates is the one place they
// are counted.
type SessionCounts struct {
	Active            int
	Expired           int
	ExpiringWithin24h int
	UsersWithSessions int // users with at least one live session
}

// CountSessionStates counts sessions through the expires_at index (each a
// range scan of the index alone) and users through the user_id index.
func CountSessionStates(ctx context.Context, db *DB, now time.Time) (SessionCounts, error) {
	var c SessionCounts
	count := func(dst *int, where string, args ...any) error {
		n, err := db.Read.NewSelect().Model((*Session)(nil)).Where(where, args...).Count(ctx)
		*dst = int(n)
		return err
	}
	soon := now.Add(24 * time.Hour)
	if err := count(&c.Active, "expires_at > ?", db.T(now)); err != nil {
		return c, Wrap(err, "count sessions")
	}
	if err := count(&c.Expired, "expires_at <= ?", db.T(now)); err != nil {
		return c, Wrap(err, "count sessions")
	}
	if err := count(&c.ExpiringWithin24h, "expires_at > ? AND expires_at <= ?", db.T(now), db.T(soon)); err != nil {
		return c, Wrap(err, "count sessions")
	}
	// One probe of the user_id index per user, stopping at the first live
	// session: COUNT(DISTINCT user_id) over the live sessions reads them all.
	err := db.Read.NewSelect().TableExpr("users AS u").ColumnExpr("COUNT(*)").
		Where("EXISTS (SELECT 1 FROM sessions AS s WHERE s.user_id = u.id AND s.expires_at > ?)", db.T(now)).
		Scan(ctx, &c.UsersWithSessions)
	return c, Wrap(err, "count sessions")
}

package models

import (
	"context"
	"database/sql"
	"time"
)

// Figures are the database-derived numbers /metrics exports. They are read
// in a handful of indexed aggregate queries; the caller caches them.
type Figures struct {
	ActiveSessions     int64
	ExpiredSessions    int64
	Expiring24h        int64
	UsersWithSessions  int64 // users with at least one active session
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
	c, err := CountSessionStates(ctx, db, now)
	if err != nil {
		return nil, err
	}
	f.ActiveSessions, f.ExpiredSessions = int64(c.Active), int64(c.Expired)
	f.Expiring24h, f.UsersWithSessions = int64(c.ExpiringWithin24h), int64(c.UsersWithSessions)
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

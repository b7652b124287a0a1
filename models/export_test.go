package models

import (
	"context"

	"github.com/uptrace/bun"
)

// BackendPID is the PostgreSQL backend the listener is subscribed on.
func (l *RevocationListener) BackendPID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid
}

// Counting runs fn as the whole-table counts run.
func (db *DB) Counting(ctx context.Context, fn func(ctx context.Context, q bun.IDB) error) error {
	return db.counting(ctx, fn)
}

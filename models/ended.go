package models

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// endedKeep is how long the reason a session ended is kept: longer than a
// tab is likely to stay open on a page.
const endedKeep = 30 * 24 * time.Hour

// EndedSession says why the session of a token hash ended.
type EndedSession struct {
	bun.BaseModel `bun:"table:ended_sessions"`

	TokenHash string    `bun:"token_hash,pk"`
	Kind      string    `bun:"kind"`     // the audit event kind that ended it
	ByAdmin   bool      `bun:"by_admin"` // someone other than its user ended it
	EndedAt   time.Time `bun:"ended_at"`
}

// ending is why a revocation runs: its event kind and who asked.
type ending struct {
	kind    string
	actorID int64
}

// recordEnded keeps why the sessions of userID with these token hashes
// ended, and forgets reasons older than endedKeep.
func recordEnded(ctx context.Context, tx bun.IDB, hashes []string, userID int64, why ending, now time.Time) error {
	if len(hashes) == 0 {
		return nil
	}
	rows := make([]EndedSession, len(hashes))
	for i, h := range hashes {
		rows[i] = EndedSession{TokenHash: h, Kind: why.kind, ByAdmin: why.actorID != 0 && why.actorID != userID, EndedAt: now}
	}
	for start := 0; start < len(rows); start += 500 {
		batch := rows[start:min(start+500, len(rows))]
		if _, err := tx.NewInsert().Model(&batch).On("CONFLICT (token_hash) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
	}
	_, err := tx.NewDelete().Model((*EndedSession)(nil)).Where("ended_at < ?", now.Add(-endedKeep)).Exec(ctx)
	return err
}

// FindEnded is why the session of token ended; ErrNotFound when no reason
// is known (never issued, signed out, expired and removed, or long ago).
func FindEnded(ctx context.Context, db *DB, token string) (*EndedSession, error) {
	e := new(EndedSession)
	err := db.Read.NewSelect().Model(e).Where("token_hash = ?", HashToken(token)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Wrap(ErrNotFound, "find ended session")
	}
	return e, Wrap(err, "find ended session")
}

package models

import (
	"context"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// signInDetail is the session.created event's detail: how, and where
// when known, so later sign-ins can be compared with it.
func signInDetail(s *Session) string {
	d := "amr=" + string(s.AMR)
	if s.Country != "" {
		d += " country=" + s.Country
	}
	if s.City != "" {
		d += " city=" + strings.ReplaceAll(s.City, " ", "_")
	}
	if s.Flags != "" {
		d += " flags=" + s.Flags
	}
	return d
}

// PastSignIn is one earlier sign-in of a user: its browser and country.
type PastSignIn struct {
	UserAgent string
	Country   string
}

// RecentSignIns lists the user's sign-ins since since (from the audit
// trail, which outlives the sessions), read in tx.
func RecentSignIns(ctx context.Context, tx bun.IDB, db *DB, userID int64, since time.Time) ([]PastSignIn, error) {
	var evs []Event
	err := tx.NewSelect().Model(&evs).Column("user_agent", "detail").
		Where("user_id = ? AND kind = ? AND at >= ?", userID, EventSessionCreated, db.T(since)).
		OrderExpr("at DESC").Limit(1000).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "recent sign-ins")
	}
	out := make([]PastSignIn, len(evs))
	for i, e := range evs {
		out[i] = PastSignIn{UserAgent: e.UserAgent}
		for _, f := range strings.Fields(e.Detail) {
			if c, ok := strings.CutPrefix(f, "country="); ok {
				out[i].Country = c
			}
		}
	}
	return out, nil
}

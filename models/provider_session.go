package models

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"
)

// AuthJSProvider is the provider of sessions imported from Auth.js.
const AuthJSProvider = "authjs"

// EndProviderSessions ends the sessions a provider's back-channel logout
// names: those signed in through provider with its session id sid, or,
// without a sid, all of the user's signed in through it (userID 0: any
// user). Each leaves a session.revoked event; it returns how many ended.
func (m *SessionManager) EndProviderSessions(ctx context.Context, provider string, userID int64, sid string, a Audit) (int, error) {
	if sid == "" && userID == 0 {
		return 0, nil
	}
	n := 0
	err := m.db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		var ended []Session
		q := tx.NewDelete().Model(&ended).Where("provider = ?", provider)
		if sid != "" {
			q = q.Where("provider_sid = ?", sid)
		}
		if userID != 0 {
			q = q.Where("user_id = ?", userID)
		}
		if err := q.Returning("id, user_id, token_hash").Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		hashes := make([]string, 0, len(ended))
		for _, s := range ended {
			hashes = append(hashes, s.TokenHash)
			if err := RecordEvent(ctx, tx, a.event(EventSessionRevoked, m.Now(), s.ID, s.UserID, "back-channel logout from "+provider)); err != nil {
				return nil, err
			}
		}
		n = len(ended)
		return hashes, nil
	})
	if err != nil {
		return 0, Wrap(err, "end provider sessions")
	}
	return n, nil
}

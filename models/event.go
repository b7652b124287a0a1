package models

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Event kinds written to session_events. Other programs filter on these
// names: keep them stable.
const (
	EventSessionCreated    = "session.created"
	EventSessionExtended   = "session.extended"
	EventSessionSignedOut  = "session.signed_out"
	EventSessionRevoked    = "session.revoked"
	EventSessionUpdated    = "session.updated"
	EventUserForceLogout   = "user.force_logout"
	EventUserRevokeOthers  = "user.revoke_others"
	EventUserCreated       = "user.created"
	EventUserDeleted       = "user.deleted"
	EventUserRoleChanged   = "user.role_changed"
	EventUserGroupsChanged = "user.groups_changed"
	EventPasswordChanged   = "user.password_changed"
	EventSignInFailed      = "signin.failed"
	EventCleanupRun        = "cleanup.run"
	EventFactorAdded       = "factor.added"
	EventFactorRemoved     = "factor.removed"
	EventFactorsReset      = "user.factors_reset"
	EventRecoveryCodesNew  = "factor.recovery_codes"
	EventStepUp            = "session.step_up"
	EventSignInThrottled   = "signin.throttled"
	EventTokenCreated      = "token.created"
	EventTokenRevoked      = "token.revoked"
)

// Event is one row of the audit trail. It never holds a token or password.
type Event struct {
	bun.BaseModel `bun:"table:session_events"`

	ID        int64     `bun:"id,pk,autoincrement" json:"id"`
	At        time.Time `bun:"at" json:"at"`
	Kind      string    `bun:"kind" json:"kind"`
	SessionID *int64    `bun:"session_id" json:"sessionId"`
	UserID    *int64    `bun:"user_id" json:"userId"`
	ActorID   *int64    `bun:"actor_id" json:"actorId"`
	// ActorTokenID: the API token the actor used, when not a browser session.
	ActorTokenID *int64 `bun:"actor_token_id" json:"actorTokenId"`
	IP           string `bun:"ip" json:"ip"`
	UserAgent    string `bun:"user_agent" json:"userAgent"`
	Detail       string `bun:"detail" json:"detail"`
}

// Audit says who did something and from where; operations that change
// sessions take one and write their event in the same transaction.
type Audit struct {
	ActorID      int64
	ActorTokenID int64
	IP           string
	UserAgent    string
}

func (a Audit) event(kind string, at time.Time, sessionID, userID int64, detail string) *Event {
	return &Event{
		At: at, Kind: kind, SessionID: ptr(sessionID), UserID: ptr(userID), ActorID: ptr(a.ActorID), ActorTokenID: ptr(a.ActorTokenID),
		IP: clip(a.IP, 64), UserAgent: clip(a.UserAgent, 512), Detail: detail,
	}
}

// Event is the audit row for something a did outside the session
// operations, which write their own.
func (a Audit) Event(kind string, at time.Time, sessionID, userID int64, detail string) *Event {
	return a.event(kind, at, sessionID, userID, detail)
}

// RecordEvent inserts one audit event.
func RecordEvent(ctx context.Context, db bun.IDB, ev *Event) error {
	_, err := db.NewInsert().Model(ev).Exec(ctx)
	return Wrap(err, "record event")
}

func ptr(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

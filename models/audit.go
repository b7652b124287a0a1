package models

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// EventKinds is every kind the audit trail can hold, in the order the
// filter offers them.
var EventKinds = []string{
	EventSessionCreated, EventSessionExtended, EventSessionUpdated, EventSessionSignedOut, EventSessionRevoked,
	EventUserForceLogout, EventUserRevokeOthers, EventUserCreated, EventUserDeleted,
	EventUserRoleChanged, EventUserGroupsChanged, EventUserUpdated, EventEmailVerified, EventPasswordChanged, EventSignInFailed, EventCleanupRun,
	EventSignInThrottled, EventTokenCreated, EventTokenRevoked,
}

// ValidEventKind reports whether kind is one the audit trail knows.
func ValidEventKind(kind string) bool {
	for _, k := range EventKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Audit list limits.
const (
	DefaultEventLimit = 50
	MaxEventLimit     = 200
)

// EventCursor is the keyset position after the last row of a page: the
// list is ordered by (at DESC, id DESC), so the next page is the rows
// strictly before it.
type EventCursor struct {
	At time.Time
	ID int64
}

// String is the cursor's URL form: microseconds since the epoch, a dot,
// the id.
func (c EventCursor) String() string {
	return strconv.FormatInt(c.At.UTC().UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseEventCursor reads String's form back; anything else is invalid.
func ParseEventCursor(s string) (*EventCursor, error) {
	us, id, ok := strings.Cut(s, ".")
	if !ok {
		return nil, Invalid("cursor", "is not a cursor this server issued")
	}
	micros, err1 := strconv.ParseInt(us, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || micros < 0 || n <= 0 {
		return nil, Invalid("cursor", "is not a cursor this server issued")
	}
	return &EventCursor{At: time.UnixMicro(micros).UTC(), ID: n}, nil
}

// EventFilter selects audit events. Zero fields do not filter. From is
// inclusive and To exclusive.
type EventFilter struct {
	UserID    int64 // the event is about this user (user_id)
	SessionID int64 // the event is about this session (a session's history)
	Kind      string
	From      time.Time
	To        time.Time
	Limit     int // DefaultEventLimit when 0; at most MaxEventLimit
	After     *EventCursor
}

// AuditEvent is an event with the emails of its user and actor, empty when
// that account is gone (events outlive users).
type AuditEvent struct {
	Event
	UserEmail  string `bun:"user_email" json:"userEmail"`
	ActorEmail string `bun:"actor_email" json:"actorEmail"`
}

// ListEvents returns one page of the audit trail, newest first, and the
// cursor of the next page (nil on the last page). It is a keyset query on
// the (at DESC, id DESC) indexes, so a deep page costs what the first does.
func ListEvents(ctx context.Context, db *DB, f EventFilter) ([]AuditEvent, *EventCursor, error) {
	if f.Limit == 0 {
		f.Limit = DefaultEventLimit
	}
	if f.Limit < 1 || f.Limit > MaxEventLimit {
		return nil, nil, Invalid("limit", "must be between 1 and %d", MaxEventLimit)
	}
	if f.Kind != "" && !ValidEventKind(f.Kind) {
		return nil, nil, Invalid("kind", "is not an event kind")
	}
	var rows []AuditEvent
	q := db.Read.NewSelect().Model(&rows).
		ModelTableExpr("session_events AS e").
		ColumnExpr("e.*").
		ColumnExpr("COALESCE(u.email, '') AS user_email").
		ColumnExpr("COALESCE(a.email, '') AS actor_email").
		Join("LEFT JOIN users AS u ON u.id = e.user_id").
		Join("LEFT JOIN users AS a ON a.id = e.actor_id")
	if f.UserID != 0 {
		q = q.Where("e.user_id = ?", f.UserID)
	}
	if f.SessionID != 0 {
		q = q.Where("e.session_id = ?", f.SessionID)
	}
	if f.Kind != "" {
		q = q.Where("e.kind = ?", f.Kind)
	}
	if !f.From.IsZero() {
		q = q.Where("e.at >= ?", db.T(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("e.at < ?", db.T(f.To))
	}
	if f.After != nil {
		// A row-value comparison, so both planners walk the (at, id) index
		// from the cursor instead of filtering an OR.
		q = q.Where("(e.at, e.id) < (?, ?)", db.T(f.After.At), f.After.ID)
	}
	err := q.OrderExpr("e.at DESC, e.id DESC").Limit(int64(f.Limit + 1)).Scan(ctx)
	if err != nil {
		return nil, nil, Wrap(err, "list events")
	}
	var next *EventCursor
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		next = &EventCursor{At: last.At, ID: last.ID}
	}
	return rows, next, nil
}

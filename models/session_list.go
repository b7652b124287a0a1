package models

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Session list statuses.
const (
	StatusAll     = "all"
	StatusActive  = "active"
	StatusExpired = "expired"
)

// MaxSessionListLimit caps one page of the admin list.
const MaxSessionListLimit = 100

// SessionSort is the admin list's order: a column, descending with a
// leading "-". Every order breaks ties on id in the same direction.
type SessionSort string

// DefaultSessionSort is newest first, the order an unsorted list has.
const DefaultSessionSort SessionSort = "-created"

// sessionSortColumns is the whitelist of sortable columns; only these
// names ever reach SQL.
var sessionSortColumns = map[string]string{
	"created": "s.created_at", "last_seen": "s.last_seen_at", "expires": "s.expires_at",
}

// ParseSessionSort accepts created, last_seen or expires, each optionally
// prefixed by "-" for descending; empty is the default.
func ParseSessionSort(v string) (SessionSort, bool) {
	if v == "" {
		return DefaultSessionSort, true
	}
	_, ok := sessionSortColumns[strings.TrimPrefix(v, "-")]
	return SessionSort(v), ok
}

// Column is the sort's SQL column (the default's for an unknown value).
func (o SessionSort) Column() string {
	if c, ok := sessionSortColumns[o.Key()]; ok {
		return c
	}
	return "s.created_at"
}

// Key is the sort's column name without direction ("created").
func (o SessionSort) Key() string { return strings.TrimPrefix(string(o), "-") }

// Desc reports a descending order.
func (o SessionSort) Desc() bool { return strings.HasPrefix(string(o), "-") }

// keyOf is a row's value in the sort's column.
func (o SessionSort) keyOf(s *Session) time.Time {
	switch o.Key() {
	case "last_seen":
		return s.LastSeenAt
	case "expires":
		return s.ExpiresAt
	}
	return s.CreatedAt
}

// SessionCursor is a position in the admin list's order. CreatedAt holds
// the row's value in the sort's column (created_at in the default order).
// Before asks for the rows ahead of it (the previous page).
type SessionCursor struct {
	CreatedAt time.Time
	ID        int64
	Before    bool
	Sort      SessionSort // empty means DefaultSessionSort
}

// Encode makes the cursor opaque for URLs: clients pass it back verbatim.
func (c SessionCursor) Encode() string {
	dir := "n"
	if c.Before {
		dir = "p"
	}
	raw := dir + "." + strconv.FormatInt(c.CreatedAt.UnixMicro(), 36) + "." + strconv.FormatInt(c.ID, 36)
	if c.Sort != "" && c.Sort != DefaultSessionSort {
		raw += "." + string(c.Sort) // a cursor knows its order, so it cannot be replayed in another
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeSessionCursor reverses Encode; anything else is a ValidationError.
func DecodeSessionCursor(s string) (SessionCursor, error) {
	bad := Invalid("cursor", "is not a cursor this server issued")
	if len(s) > 64 {
		return SessionCursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return SessionCursor{}, bad
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) < 3 || len(parts) > 4 || (parts[0] != "n" && parts[0] != "p") {
		return SessionCursor{}, bad
	}
	sort := DefaultSessionSort
	if len(parts) == 4 {
		var ok bool
		if sort, ok = ParseSessionSort(parts[3]); !ok || parts[3] == "" {
			return SessionCursor{}, bad
		}
	}
	micros, err1 := strconv.ParseInt(parts[1], 36, 64)
	id, err2 := strconv.ParseInt(parts[2], 36, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return SessionCursor{}, bad
	}
	return SessionCursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: id, Before: parts[0] == "p", Sort: sort}, nil
}

// SessionFilter selects and pages the admin list. With Cursor set it pages
// by keyset (every page costs what the first does); otherwise by Page
// (1-based offset, the seed's parameter, kept for API clients).
type SessionFilter struct {
	UserID int64
	Q      string // name or email, matched literally, case-insensitively
	Status string // all (or empty), active, expired
	Limit  int
	Page   int
	Cursor *SessionCursor // must carry Sort
	Sort   SessionSort    // empty means DefaultSessionSort
	// KnownTotal, when set, is used as the list's total instead of
	// counting (the caller's recent count of the same filter).
	KnownTotal *SessionCount
}

// SessionList is one page of the admin list.
type SessionList struct {
	Sessions []Session // with User (id, name, email, role)
	Total    int       // matching rows (PostgreSQL planner estimate when unfiltered and large)
	// TotalIsEstimate: Total is the planner's estimate, not a count.
	TotalIsEstimate bool
	Next            *SessionCursor
	Prev            *SessionCursor
}

// estimateAbove is the table size from which the unfiltered total comes
// from PostgreSQL's planner statistics instead of COUNT(*).
const estimateAbove = 10000

// ListSessions returns one page of sessions with their users in f.Sort's
// order (newest first by default).
func ListSessions(ctx context.Context, db *DB, f SessionFilter, now time.Time) (*SessionList, error) {
	if f.Limit <= 0 || f.Limit > MaxSessionListLimit {
		return nil, Invalid("limit", "must be between 1 and %d", MaxSessionListLimit)
	}
	if f.Page <= 0 {
		f.Page = 1
	}
	var rows []Session
	q := db.Read.NewSelect().Model(&rows).
		Relation("User", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Column("id", "name", "email", "role") })
	q = applySessionFilter(db, q, f, now)
	if f.Sort == "" {
		f.Sort = DefaultSessionSort
	}
	if _, ok := ParseSessionSort(string(f.Sort)); !ok {
		return nil, Invalid("sort", "must be created, last_seen or expires, with - for descending")
	}
	if f.Cursor != nil && f.Cursor.Sort != f.Sort && !(f.Cursor.Sort == "" && f.Sort == DefaultSessionSort) {
		return nil, Invalid("cursor", "belongs to another sort order")
	}
	backwards := f.Cursor != nil && f.Cursor.Before
	col, desc := f.Sort.Column(), f.Sort.Desc() != backwards // a previous page reads the order backwards
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	if f.Cursor == nil {
		q = q.Offset(int64((f.Page - 1) * f.Limit))
	} else {
		at := db.T(f.Cursor.CreatedAt)
		q = q.Where(col+" "+cmp+"= ?", at).Where("("+col+" "+cmp+" ? OR s.id "+cmp+" ?)", at, f.Cursor.ID)
	}
	q = q.Order(col+" "+dir, "s.id "+dir)
	if err := q.Limit(int64(f.Limit + 1)).Scan(ctx); err != nil {
		return nil, Wrap(err, "list sessions")
	}
	more := len(rows) > f.Limit
	if more {
		rows = rows[:f.Limit]
	}
	if backwards {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	out := &SessionList{Sessions: rows}
	if len(rows) > 0 {
		first, last := rows[0], rows[len(rows)-1]
		hasPrev := (f.Cursor == nil && f.Page > 1) || (f.Cursor != nil && !backwards) || (backwards && more)
		hasNext := (!backwards && more) || backwards
		if hasPrev {
			out.Prev = &SessionCursor{CreatedAt: f.Sort.keyOf(&first), ID: first.ID, Before: true, Sort: f.Sort}
		}
		if hasNext {
			out.Next = &SessionCursor{CreatedAt: f.Sort.keyOf(&last), ID: last.ID, Sort: f.Sort}
		}
	}
	total := f.KnownTotal
	if total == nil {
		count, err := CountSessions(ctx, db, f, now)
		if err != nil {
			return nil, err
		}
		total = &count
	}
	out.Total, out.TotalIsEstimate = total.N, total.Estimate
	return out, nil
}

func applySessionFilter(db *DB, q *bun.SelectQuery, f SessionFilter, now time.Time) *bun.SelectQuery {
	if f.UserID != 0 {
		q = q.Where("s.user_id = ?", f.UserID)
	}
	switch f.Status {
	case StatusActive:
		q = q.Where("s.expires_at > ?", db.T(now))
	case StatusExpired:
		q = q.Where("s.expires_at <= ?", db.T(now))
	}
	if f.Q != "" {
		pat := LikePattern(f.Q)
		// A name, an email, or a session's IP address or browser.
		q = q.Where("(s.user_id IN (SELECT u.id FROM users AS u WHERE LOWER(u.name) LIKE ? ESCAPE '\\' OR u.email LIKE ? ESCAPE '\\')"+
			" OR s.ip LIKE ? ESCAPE '\\' OR LOWER(s.user_agent) LIKE ? ESCAPE '\\')", pat, pat, pat, pat)
	}
	return q
}

// Unfiltered reports whether f selects every session (paging aside).
func (f SessionFilter) Unfiltered() bool {
	return f.UserID == 0 && f.Q == "" && (f.Status == "" || f.Status == StatusAll)
}

// SessionCount is a list's total and whether it was estimated.
type SessionCount struct {
	N        int
	Estimate bool // the PostgreSQL planner's figure (pg_class.reltuples), not a count
}

// CountSessions is the list's total. Unfiltered on a large PostgreSQL
// table it is the planner's estimate (an exact COUNT(*) of a million rows
// per page view is what keyset paging exists to avoid).
func CountSessions(ctx context.Context, db *DB, f SessionFilter, now time.Time) (SessionCount, error) {
	if f.Unfiltered() && db.Kind == Postgres {
		var est float64
		err := db.Read.NewRaw("SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass('sessions')").Scan(ctx, &est)
		if err == nil && est >= estimateAbove {
			return SessionCount{N: int(est), Estimate: true}, nil
		}
	}
	q := db.Read.NewSelect().Model((*Session)(nil))
	n, err := applySessionFilter(db, q, f, now).Count(ctx)
	return SessionCount{N: int(n)}, Wrap(err, "count sessions")
}

// FindSessionWithUser is one session by id with its user, expired or not
// (the admin's detail view); ErrNotFound once it is gone.
func FindSessionWithUser(ctx context.Context, db *DB, id int64) (*Session, error) {
	s := new(Session)
	err := db.Read.NewSelect().Model(s).
		Relation("User", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Column("id", "name", "email", "role") }).
		Where("s.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Wrap(ErrNotFound, "find session")
	}
	return s, Wrap(err, "find session")
}

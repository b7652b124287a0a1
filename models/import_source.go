package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// OpenAuthJS connects to an Auth.js PostgreSQL database, read only.
func OpenAuthJS(ctx context.Context, url string) (*sql.DB, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, Invalid("from", "want a postgres:// URL of the Auth.js database")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, Invalid("from", "%v", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to the Auth.js database: %w", err)
	}
	return db, nil
}

// authjsSource is an Auth.js database's tables and columns, quoted for SQL.
type authjsSource struct {
	db                        *sql.DB
	users, accounts, sessions string            // tables, quoted ("" accounts: none)
	keys                      map[string]string // "u", "a", "s" → the table's name in col
	col                       map[string]string // "table.column" (lower case) → quoted name
}

func (s authjsSource) naming() string {
	return strings.Join([]string{s.users, s.accounts, s.sessions}, ", ")
}

// describeAuthJS finds the tables: the adapter's plural names first, then
// the singular ones; and their columns, whatever their case.
func describeAuthJS(ctx context.Context, db *sql.DB) (authjsSource, error) {
	s := authjsSource{db: db, col: map[string]string{}}
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND lower(table_name) IN ('users', 'user', 'accounts', 'account', 'sessions', 'session')`)
	if err != nil {
		return s, fmt.Errorf("read the Auth.js schema: %w", err)
	}
	defer rows.Close()
	tables := map[string]string{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			return s, err
		}
		tables[strings.ToLower(table)] = quoteIdent(table)
		s.col[strings.ToLower(table)+"."+strings.ToLower(column)] = quoteIdent(column)
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	pick := func(names ...string) (string, string) {
		for _, n := range names {
			if t, ok := tables[n]; ok {
				return t, n
			}
		}
		return "", ""
	}
	var uKey, aKey, sKey string
	s.users, uKey = pick("users", "user")
	s.accounts, aKey = pick("accounts", "account")
	s.sessions, sKey = pick("sessions", "session")
	if s.users == "" {
		return s, errors.New("the Auth.js database has no users (or \"user\") table in its current schema: set search_path in the URL (?search_path=…) if it lives elsewhere")
	}
	var missing []string
	need := func(key, table string, cols ...string) {
		for _, c := range cols {
			if _, ok := s.col[key+"."+strings.ToLower(c)]; !ok {
				missing = append(missing, table+"."+c)
			}
		}
	}
	need(uKey, s.users, "id", "email")
	if s.accounts != "" {
		need(aKey, s.accounts, "id", "userId", "provider", "providerAccountId")
	}
	if s.sessions != "" {
		need(sKey, s.sessions, "id", "userId", "sessionToken", "expires")
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("the Auth.js tables lack columns: %s", strings.Join(missing, ", "))
	}
	s.keys = map[string]string{"u": uKey, "a": aKey, "s": sKey}
	return s, nil
}

// c is the quoted column of table key ("u", "a", "s"), or def when absent.
func (s authjsSource) c(key, column, def string) string {
	if q, ok := s.col[s.keys[key]+"."+strings.ToLower(column)]; ok {
		return q
	}
	return def
}

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// eachUser streams the users in id order; a missing name or emailVerified
// column reads as NULL.
func (s authjsSource) eachUser(ctx context.Context, fn func(id, email, name string, verified sql.NullTime) error) error {
	q := fmt.Sprintf(`SELECT %s::text, COALESCE(%s::text, ''), COALESCE(%s::text, ''), %s FROM %s ORDER BY %s`,
		s.c("u", "id", ""), s.c("u", "email", ""), s.c("u", "name", "NULL"), s.c("u", "emailVerified", "NULL::timestamptz"), s.users, s.c("u", "id", ""))
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read Auth.js users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, email, name string
		var verified sql.NullTime
		if err := rows.Scan(&id, &email, &name, &verified); err != nil {
			return fmt.Errorf("read Auth.js users: %w", err)
		}
		if err := fn(id, email, name, verified); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s authjsSource) eachAccount(ctx context.Context, fn func(id, userID, kind, provider, subject string) error) error {
	q := fmt.Sprintf(`SELECT %s::text, %s::text, COALESCE(%s::text, ''), COALESCE(%s::text, ''), COALESCE(%s::text, '') FROM %s ORDER BY %s`,
		s.c("a", "id", ""), s.c("a", "userId", ""), s.c("a", "type", "NULL"), s.c("a", "provider", ""), s.c("a", "providerAccountId", ""),
		s.accounts, s.c("a", "id", ""))
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read Auth.js accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, userID, kind, provider, subject string
		if err := rows.Scan(&id, &userID, &kind, &provider, &subject); err != nil {
			return fmt.Errorf("read Auth.js accounts: %w", err)
		}
		if err := fn(id, userID, kind, provider, subject); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s authjsSource) countExpired(ctx context.Context, now time.Time) (int, error) {
	if s.sessions == "" {
		return 0, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE %s <= $1`, s.sessions, s.c("s", "expires", "")), now).Scan(&n)
	return n, err
}

// eachLiveSession streams the unexpired sessions in id order.
func (s authjsSource) eachLiveSession(ctx context.Context, now time.Time, fn func(id, userID, token string, expires time.Time) error) error {
	if s.sessions == "" {
		return nil
	}
	q := fmt.Sprintf(`SELECT %s::text, %s::text, COALESCE(%s::text, ''), %s FROM %s WHERE %s > $1 ORDER BY %s`,
		s.c("s", "id", ""), s.c("s", "userId", ""), s.c("s", "sessionToken", ""), s.c("s", "expires", ""), s.sessions,
		s.c("s", "expires", ""), s.c("s", "id", ""))
	rows, err := s.db.QueryContext(ctx, q, now)
	if err != nil {
		return fmt.Errorf("read Auth.js sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, userID, token string
		var expires time.Time
		if err := rows.Scan(&id, &userID, &token, &expires); err != nil {
			return fmt.Errorf("read Auth.js sessions: %w", err)
		}
		if err := fn(id, userID, token, expires); err != nil {
			return err
		}
	}
	return rows.Err()
}

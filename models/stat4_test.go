package models

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

// analyzedSQLite opens a migrated SQLite file holding users and sessions
// with spread-out expiries, and runs ANALYZE so STAT4 samples exist.
func analyzedSQLite(t testing.TB, sessions int) (string, *DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stat4.db")
	db, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i := range 50 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO users (email, name, role, password_hash, created_at, updated_at) VALUES (?, ?, 'user', 'x', ?, ?)",
				fmt.Sprintf("u%d@example.com", i), "u", db.T(now), db.T(now)); err != nil {
				return err
			}
		}
		for i := range sessions {
			exp := now.Add(time.Duration(i-sessions/2) * time.Minute)
			if _, err := tx.ExecContext(ctx, "INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
				HashToken(fmt.Sprint("tok", i)), i%50+1, db.T(exp), db.T(now), db.T(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	return path, db
}

func stat4Rows(t testing.TB, db *DB) int {
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM sqlite_stat4 WHERE tbl = 'sessions'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func lookupPlan(t testing.TB, db *DB) string {
	rows, err := db.Read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+lookupSQLite, HashToken("tok1"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// TestSQLiteSTAT4Trap_LookupStaysOnTheTokenIndex_AndOpenDropsSamples guards
// the trap of DESIGN.md: modernc's SQLite has STAT4, and after ANALYZE a
// statement whose plan used a bound value is recompiled each time the value
// changes. The lookup must bind nothing but the token hash (the expiry is
// checked in Go), search the unique token index, and Open must drop the
// sessions samples an ANALYZE left behind.
func TestSQLiteSTAT4Trap_LookupStaysOnTheTokenIndex_AndOpenDropsSamples(t *testing.T) {
	for _, q := range []string{lookupOne, lookupSQLite} {
		where := q[strings.Index(q, "WHERE"):]
		if strings.Count(q, "?")+strings.Count(q, "$1") != 1 || strings.Contains(where, "expires_at") {
			t.Fatalf("the lookup binds more than the token hash; an expiry bound brings the STAT4 recompiles back:\n%s", q)
		}
	}
	path, db := analyzedSQLite(t, 2000)
	if stat4Rows(t, db) == 0 {
		t.Fatal("ANALYZE wrote no STAT4 samples: the driver's SQLite changed; re-check DESIGN.md's STAT4 note")
	}
	if plan := lookupPlan(t, db); !strings.Contains(plan, "USING INDEX sessions_token_hash_idx (token_hash=?)") {
		t.Fatalf("after ANALYZE the lookup plan is %q, want a search of sessions_token_hash_idx", plan)
	}
	db.Close()

	db, err := Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := stat4Rows(t, db); n != 0 {
		t.Fatalf("Open left %d STAT4 samples for sessions", n)
	}
	if plan := lookupPlan(t, db); !strings.Contains(plan, "USING INDEX sessions_token_hash_idx (token_hash=?)") {
		t.Fatalf("after Open the lookup plan is %q", plan)
	}
}

// BenchmarkSQLiteSTAT4Trap compares, after ANALYZE with STAT4 samples in
// place, the lookup as written with the trap (an expiry bound in SQL) over
// many distinct tokens: each new value makes SQLite recompile the trap.
func BenchmarkSQLiteSTAT4Trap(b *testing.B) {
	const n = 2000
	for _, v := range []struct{ name, sql string }{
		{"lookup", lookupSQLite},
		{"trap-expiry-in-sql", lookupSQLite + " AND s.expires_at > ?"},
	} {
		b.Run(v.name, func(b *testing.B) {
			_, db := analyzedSQLite(b, n)
			defer db.Close()
			if _, err := db.ExecContext(context.Background(), "ANALYZE"); err != nil { // samples back after Open
				b.Fatal(err)
			}
			stmt, err := db.Read.DB.PrepareContext(context.Background(), v.sql)
			if err != nil {
				b.Fatal(err)
			}
			defer stmt.Close()
			hashes := make([]string, n)
			for i := range hashes {
				hashes[i] = HashToken(fmt.Sprint("tok", i))
			}
			now := db.T(time.Now())
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				args := []any{hashes[i%n]}
				if strings.Count(v.sql, "?") == 2 {
					args = append(args, now)
				}
				rows, err := stmt.QueryContext(context.Background(), args...)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				rows.Close()
				i++
			}
		})
	}
}

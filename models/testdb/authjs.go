package testdb

import (
	"context"
	"database/sql"
	_ "embed"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// authjsSchema is the Auth.js PostgreSQL adapter's schema (users,
// accounts, sessions, verification_token).
//
//go:embed authjs-pg-adapter-schema.sql
var authjsSchema string

// authjsSingular is the same with the singular table names many Auth.js
// apps (and the seed) use.
const authjsSingular = `
CREATE TABLE "user" (id TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE, "emailVerified" TIMESTAMP, image TEXT);
CREATE TABLE account ("userId" TEXT NOT NULL REFERENCES "user" (id) ON DELETE CASCADE, type TEXT NOT NULL, provider TEXT NOT NULL,
  "providerAccountId" TEXT NOT NULL, refresh_token TEXT, access_token TEXT, expires_at INTEGER, token_type TEXT, scope TEXT,
  id_token TEXT, session_state TEXT, id SERIAL PRIMARY KEY, UNIQUE (provider, "providerAccountId"));
CREATE TABLE session (id SERIAL PRIMARY KEY, "sessionToken" VARCHAR(1024) UNIQUE NOT NULL,
  "userId" TEXT NOT NULL REFERENCES "user" (id) ON DELETE CASCADE, expires TIMESTAMP NOT NULL);
`

// AuthJS makes an empty Auth.js database in a new PostgreSQL schema, with
// the adapter's table names or, singular, the seed's, and returns its URL
// and a connection to fill it through.
func AuthJS(t testing.TB, singular bool) (string, *sql.DB) {
	t.Helper()
	url := PostgresURL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema := authjsSingular
	if !singular {
		var lines []string
		for _, l := range strings.Split(authjsSchema, "\n") {
			if !strings.HasPrefix(l, `\`) { // psql's own commands
				lines = append(lines, l)
			}
		}
		schema = strings.Join(lines, "\n")
	}
	if _, err := db.ExecContext(context.Background(), schema); err != nil {
		t.Fatalf("create the Auth.js schema: %v", err)
	}
	return url, db
}

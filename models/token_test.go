package models_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestToken_DatabaseStoresOnlySHA256_RawTokenInNoColumn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		p := models.Policy{MaxAge: time.Hour, UpdateAge: 0, TouchInterval: 0}
		m := newManager(t, db, p, clock)
		u := testdb.CreateUser(t, db, "token@example.com", models.RoleUser)

		tok, s := signIn(t, m, u.ID)
		clock.Advance(time.Second)
		if v, err := m.Authenticate(ctx, tok, theClient); err != nil || !v.Extended {
			t.Fatalf("Authenticate = %+v, %v; want an extension (so refresh paths are covered)", v, err)
		}
		other, _ := signIn(t, m, u.ID)
		if _, err := m.DeleteSession(ctx, other, models.Audit{IP: client.IP, UserAgent: client.UserAgent}); err != nil {
			t.Fatal(err)
		}

		row, _ := sessionRow(t, db, s.ID)
		if row.TokenHash != models.HashToken(tok) {
			t.Fatalf("token_hash = %q, want HashToken(token)", row.TokenHash)
		}
		if b, err := hex.DecodeString(row.TokenHash); err != nil || len(row.TokenHash) != 64 || len(b) != 32 {
			t.Fatalf("token_hash %q is not 64 hex characters", row.TokenHash)
		}
		for _, table := range []string{"sessions", "session_events", "users", "settings", "cleanup_runs"} {
			vals := allText(t, db, table)
			for _, raw := range []string{tok, other} {
				if v, found := containsAny(vals, raw); found {
					t.Fatalf("raw token stored in %s", v)
				}
			}
		}
	})
}

func TestHashToken_Is64LowercaseHexAndDeterministic(t *testing.T) {
	tok := newToken(t)
	h := models.HashToken(tok)
	if len(h) != 64 || strings.ToLower(h) != h {
		t.Fatalf("HashToken = %q, want 64 lowercase hex characters", h)
	}
	if _, err := hex.DecodeString(h); err != nil {
		t.Fatalf("HashToken = %q: %v", h, err)
	}
	if models.HashToken(tok) != h || models.HashToken(tok+"x") == h {
		t.Fatal("HashToken is not a function of the token")
	}
}

func TestWellFormedToken_AcceptsIssuedTokens_RejectsWrongLengthsAndCharacters(t *testing.T) {
	tok := newToken(t)
	if len(tok) != models.TokenLen || !models.WellFormedToken(tok) {
		t.Fatalf("an issued token %q (len %d) is not well formed", tok, len(tok))
	}
	for name, bad := range map[string]string{
		"empty":          "",
		"one short":      tok[:models.TokenLen-1],
		"one long":       tok + "A",
		"3000 chars":     strings.Repeat("A", 3000),
		"padding":        tok[:models.TokenLen-1] + "=",
		"std base64 +":   "+" + tok[1:],
		"std base64 /":   tok[:10] + "/" + tok[11:],
		"space":          tok[:20] + " " + tok[21:],
		"NUL":            tok[:20] + "\x00" + tok[21:],
		"non-ASCII":      tok[:models.TokenLen-2] + "é",
		"quote":          tok[:models.TokenLen-1] + "'",
		"hash not token": models.HashToken(tok),
	} {
		if models.WellFormedToken(bad) {
			t.Errorf("WellFormedToken(%s: %q) = true", name, bad)
		}
	}
}

func TestNewToken_ThousandCallsAllDistinctAndWellFormed(t *testing.T) {
	seen := make(map[string]bool, 1000)
	for range 1000 {
		tok := newToken(t)
		if !models.WellFormedToken(tok) {
			t.Fatalf("NewToken gave a malformed token %q", tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken repeated %q", tok)
		}
		seen[tok] = true
	}
}

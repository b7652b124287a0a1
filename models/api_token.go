package models

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// API token scopes: what a token may do on top of what its owner may do.
const (
	ScopeSessionsRead  = "sessions:read"
	ScopeSessionsWrite = "sessions:write"
	ScopeUsersRead     = "users:read"
	ScopeUsersWrite    = "users:write"
	ScopeAuditRead     = "audit:read"
)

// Scopes is every scope, in the order forms offer them.
var Scopes = []string{ScopeSessionsRead, ScopeSessionsWrite, ScopeUsersRead, ScopeUsersWrite, ScopeAuditRead}

// Token kinds: a user's own, or one an admin made for a service.
const (
	TokenPersonal = "personal"
	TokenService  = "service"
)

// APITokenPrefix starts every API token secret, so secret scanners can
// recognise a leaked one.
const APITokenPrefix = "sdt_"

// APIToken is a bearer credential for scripts. The secret is never stored.
type APIToken struct {
	bun.BaseModel `bun:"table:api_tokens"`

	ID         int64      `bun:"id,pk,autoincrement" json:"id"`
	UserID     int64      `bun:"user_id" json:"userId"`
	Kind       string     `bun:"kind" json:"kind"`
	Name       string     `bun:"name" json:"name"`
	TokenHash  string     `bun:"token_hash" json:"-"`
	Prefix     string     `bun:"prefix" json:"prefix"`
	Scopes     string     `bun:"scopes" json:"-"`
	CreatedAt  time.Time  `bun:"created_at" json:"createdAt"`
	ExpiresAt  *time.Time `bun:"expires_at" json:"expiresAt"`
	LastUsedAt *time.Time `bun:"last_used_at" json:"lastUsedAt"`
	LastUsedIP string     `bun:"last_used_ip" json:"lastUsedIp"`
	RevokedAt  *time.Time `bun:"revoked_at" json:"revokedAt"`

	User *User `bun:"rel:belongs-to,join:user_id=id" json:"-"`
}

// ScopeList is the token's scopes as a slice.
func (t *APIToken) ScopeList() []string {
	if t.Scopes == "" {
		return []string{}
	}
	return strings.Split(t.Scopes, ",")
}

// Allows reports whether the token carries scope.
func (t *APIToken) Allows(scope string) bool { return slices.Contains(t.ScopeList(), scope) }

// Usable reports whether the token may still be used at now.
func (t *APIToken) Usable(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// NewAPIToken is what a token is made from.
type NewAPIToken struct {
	UserID    int64
	Kind      string
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
}

// ParseScopes reads a comma-separated scope list; unknown scopes are a
// validation error naming them.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(Scopes, p) {
			return nil, Invalid("scopes", "unknown scope %q (known: %s)", p, strings.Join(Scopes, ", "))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, Invalid("scopes", "at least one scope is required (known: %s)", strings.Join(Scopes, ", "))
	}
	return out, nil
}

// CreateAPIToken stores a new token and returns its secret, which exists
// only in this return value.
func CreateAPIToken(ctx context.Context, db bun.IDB, in NewAPIToken, now time.Time) (string, *APIToken, error) {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		return "", nil, Invalid("name", "is required")
	case len(in.Name) > 100:
		return "", nil, Invalid("name", "is longer than 100 characters")
	case in.Kind != TokenPersonal && in.Kind != TokenService:
		return "", nil, Invalid("kind", "want personal or service")
	case in.ExpiresAt != nil && !in.ExpiresAt.After(now):
		return "", nil, Invalid("expires", "must be in the future")
	}
	if _, err := ParseScopes(strings.Join(in.Scopes, ",")); err != nil {
		return "", nil, err
	}
	raw, err := NewToken()
	if err != nil {
		return "", nil, err
	}
	secret := APITokenPrefix + raw
	t := &APIToken{UserID: in.UserID, Kind: in.Kind, Name: in.Name, TokenHash: HashToken(secret),
		Prefix: secret[:len(APITokenPrefix)+6], Scopes: strings.Join(in.Scopes, ","), CreatedAt: now, ExpiresAt: in.ExpiresAt}
	if _, err := db.NewInsert().Model(t).Exec(ctx); err != nil {
		return "", nil, Wrap(err, "create api token")
	}
	return secret, t, nil
}

// WellFormedAPIToken reports whether secret has the shape CreateAPIToken
// gives, so anything else is refused without a query.
func WellFormedAPIToken(secret string) bool {
	raw, ok := strings.CutPrefix(secret, APITokenPrefix)
	return ok && WellFormedToken(raw)
}

// FindAPIToken finds a usable token by its secret, with its owner; a
// revoked, expired or unknown one, or one whose owner is disabled, is
// ErrNotFound.
func FindAPIToken(ctx context.Context, db bun.IDB, secret string, now time.Time) (*APIToken, error) {
	if !WellFormedAPIToken(secret) {
		return nil, ErrNotFound
	}
	t := new(APIToken)
	err := db.NewSelect().Model(t).Relation("User").Where("api_token.token_hash = ?", HashToken(secret)).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "find api token")
	}
	if !t.Usable(now) || t.User == nil || t.User.Disabled() {
		return nil, ErrNotFound
	}
	return t, nil
}

// TouchAPIToken notes when and from where a token was last used. Callers
// skip it while the last note is recent, so a busy script does not write
// on every request.
func TouchAPIToken(ctx context.Context, db bun.IDB, id int64, ip string, now time.Time) error {
	_, err := db.NewUpdate().Table("api_tokens").Set("last_used_at = ?", now).Set("last_used_ip = ?", clip(ip, 64)).
		Where("id = ?", id).Exec(ctx)
	return Wrap(err, "touch api token")
}

// ListAPITokens lists tokens, newest first: one user's (userID > 0) or
// everyone's, with their owners.
func ListAPITokens(ctx context.Context, db bun.IDB, userID int64) ([]APIToken, error) {
	var list []APIToken
	q := db.NewSelect().Model(&list).Relation("User").OrderExpr("api_token.id DESC")
	if userID > 0 {
		q = q.Where("api_token.user_id = ?", userID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, Wrap(err, "list api tokens")
	}
	return list, nil
}

// RevokeAPIToken revokes a token at once; with userID > 0 only that
// user's. An unknown or already revoked token is ErrNotFound.
func RevokeAPIToken(ctx context.Context, db bun.IDB, id, userID int64, now time.Time) error {
	q := db.NewUpdate().Table("api_tokens").Set("revoked_at = ?", now).Where("id = ?", id).Where("revoked_at IS NULL")
	if userID > 0 {
		q = q.Where("user_id = ?", userID)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return Wrap(err, "revoke api token")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"github.com/uptrace/bun"
)

// Setting is a key/value row for what sessiond generates for itself.
type Setting struct {
	bun.BaseModel `bun:"table:settings"`
	Key           string `bun:"key,pk"`
	Value         string `bun:"value"`
}

// EnsureSecret returns the secret stored under key, creating a random one on
// first use. Instances sharing a database agree on it, so a CSRF token
// issued by one validates on another.
func EnsureSecret(ctx context.Context, db bun.IDB, key string) (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	s := &Setting{Key: key, Value: base64.RawURLEncoding.EncodeToString(buf)}
	if _, err := db.NewInsert().Model(s).On("CONFLICT (key) DO NOTHING").Exec(ctx); err != nil {
		return "", Wrap(err, "store secret")
	}
	got := new(Setting)
	if err := db.NewSelect().Model(got).Where("key = ?", key).Scan(ctx); err != nil {
		return "", Wrap(err, "load secret")
	}
	return got.Value, nil
}

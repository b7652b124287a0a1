package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Importing an Auth.js database: its users (name, email, whether the email
// was verified), its provider accounts and, optionally, its live sessions,
// whose tokens are stored hashed like sessiond's own. The source is read
// as the PostgreSQL adapter makes it (users, accounts, sessions) or with
// the singular names many apps use ("user", account, session); columns are
// found whatever their case ("sessionToken" or sessiontoken).
//
// Everything is written in one transaction: an error leaves nothing behind,
// and a dry run is the same work rolled back. Users are matched by email,
// accounts by provider and subject, sessions by token hash, so a second run
// adds nothing. A row that cannot be imported is reported and skipped.

// EventImport records an import, with its counts, in the audit trail.
const EventImport = "import.authjs"

// importBatch is how many rows go in one INSERT.
const importBatch = 500

// AuthJSImport says what to import.
type AuthJSImport struct {
	Source   *sql.DB // the Auth.js database
	Sessions bool    // live sessions too
	DryRun   bool    // count, change nothing
	Now      time.Time
	Report   func(problem string) // a skipped row and why; nil: not told
}

// AuthJSSummary is what an import did (or, in a dry run, would do).
type AuthJSSummary struct {
	Tables                                                      string // the source's naming
	Users, UsersMatched, UsersSkipped, UsersVerified            int
	Accounts, AccountsPresent, AccountsSkipped                  int
	Sessions, SessionsPresent, SessionsExpired, SessionsSkipped int
	VerifiedKept                                                bool // the verified emails were recorded
	Took                                                        time.Duration
}

var errDryRun = errors.New("dry run")

// ImportAuthJS imports the source into db.
func ImportAuthJS(ctx context.Context, db *DB, in AuthJSImport) (AuthJSSummary, error) {
	start := time.Now()
	src, err := describeAuthJS(ctx, in.Source)
	if err != nil {
		return AuthJSSummary{}, err
	}
	if in.Report == nil {
		in.Report = func(string) {}
	}
	im := &authjsImporter{in: in, src: src, sum: AuthJSSummary{Tables: src.naming()}, users: map[string]int64{}}
	if im.verifiedColumn, err = hasColumn(ctx, db, "users", "email_verified_at"); err != nil {
		return AuthJSSummary{}, err
	}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		im.tx = tx
		if err := im.importUsers(ctx); err != nil {
			return err
		}
		if err := im.importAccounts(ctx); err != nil {
			return err
		}
		if in.Sessions {
			if err := im.importSessions(ctx); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("users=%d matched=%d accounts=%d sessions=%d skipped=%d",
			im.sum.Users, im.sum.UsersMatched, im.sum.Accounts, im.sum.Sessions, im.sum.UsersSkipped+im.sum.AccountsSkipped+im.sum.SessionsSkipped)
		if err := RecordEvent(ctx, tx, &Event{At: in.Now, Kind: EventImport, UserAgent: "sessiond import authjs", Detail: detail}); err != nil {
			return err
		}
		if in.DryRun {
			return errDryRun
		}
		return nil
	})
	im.sum.Took = time.Since(start)
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return im.sum, Wrap(err, "import Auth.js")
}

type authjsImporter struct {
	in             AuthJSImport
	verifiedColumn bool // sessiond's users have email_verified_at
	src            authjsSource
	tx             bun.Tx
	sum            AuthJSSummary
	users          map[string]int64 // Auth.js user id → sessiond user id
}

func (im *authjsImporter) report(format string, args ...any) {
	im.in.Report(fmt.Sprintf(format, args...))
}

// importUsers matches each source user by email or creates them (with no
// password: they sign in through a provider, or set one).
func (im *authjsImporter) importUsers(ctx context.Context) error {
	byEmail := map[string]int64{}
	var existing []User
	if err := im.tx.NewSelect().Model(&existing).Column("id", "email").Scan(ctx); err != nil {
		return err
	}
	for _, u := range existing {
		byEmail[u.Email] = u.ID
	}
	seen := map[string]string{} // email → the source user id that had it
	var batch []User
	var batchSrc []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := im.tx.NewInsert().Model(&batch).Returning("id").Exec(ctx); err != nil {
			return err
		}
		for i := range batch {
			im.users[batchSrc[i]] = batch[i].ID
		}
		im.sum.Users += len(batch)
		batch, batchSrc = batch[:0], batchSrc[:0]
		return nil
	}
	verified := map[string]time.Time{}
	err := im.src.eachUser(ctx, func(id, email, name string, emailVerified sql.NullTime) error {
		norm := NormalizeEmail(email)
		switch {
		case norm == "" || len(norm) > 254 || !validEmail(norm):
			im.sum.UsersSkipped++
			im.report("user %s: email %q is not a usable address (sessiond signs people in by email): skipped with their accounts and sessions", id, clip(email, 80))
			return nil
		case seen[norm] != "":
			im.sum.UsersSkipped++
			im.report("user %s: email %s is also user %s's (emails are compared in lower case): skipped with their accounts and sessions", id, norm, seen[norm])
			return nil
		}
		seen[norm] = id
		if emailVerified.Valid {
			verified[norm] = emailVerified.Time.UTC()
		}
		if uid, ok := byEmail[norm]; ok {
			im.users[id] = uid
			im.sum.UsersMatched++
			return nil
		}
		name = strings.TrimSpace(name)
		if name == "" {
			name, _, _ = strings.Cut(norm, "@")
		}
		batch = append(batch, User{Email: norm, Name: clip(name, 200), Role: RoleUser, CreatedAt: im.in.Now, UpdatedAt: im.in.Now})
		batchSrc = append(batchSrc, id)
		if len(batch) == importBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return im.markVerified(ctx, verified)
}

// markVerified keeps Auth.js's emailVerified on users who have none yet,
// where sessiond's users have the column.
func (im *authjsImporter) markVerified(ctx context.Context, verified map[string]time.Time) error {
	if !im.verifiedColumn {
		im.sum.UsersVerified = len(verified)
		return nil
	}
	im.sum.VerifiedKept = true
	for email, at := range verified {
		res, err := im.tx.NewUpdate().Table("users").Set("email_verified_at = ?", at).
			Where("email = ? AND email_verified_at IS NULL", email).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			im.sum.UsersVerified++
		}
	}
	return nil
}

// importAccounts links the provider accounts (OAuth and OpenID Connect
// ones: sessiond has no email-link or credentials provider).
func (im *authjsImporter) importAccounts(ctx context.Context) error {
	if im.src.accounts == "" {
		return nil
	}
	type key struct{ provider, subject string }
	present := map[key]int64{}
	var existing []Account
	if err := im.tx.NewSelect().Model(&existing).Column("user_id", "provider", "subject").Scan(ctx); err != nil {
		return err
	}
	for _, a := range existing {
		present[key{a.Provider, a.Subject}] = a.UserID
	}
	var batch []Account
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := im.tx.NewInsert().Model(&batch).Exec(ctx); err != nil {
			return err
		}
		im.sum.Accounts += len(batch)
		batch = batch[:0]
		return nil
	}
	err := im.src.eachAccount(ctx, func(id, userID, kind, provider, subject string) error {
		uid, ok := im.users[userID]
		switch {
		case !ok:
			im.sum.AccountsSkipped++
			im.report("account %s: its user %s was not imported: skipped", id, userID)
			return nil
		case kind != "" && kind != "oauth" && kind != "oidc":
			im.sum.AccountsSkipped++
			im.report("account %s: type %q is not a provider account sessiond can sign in with: skipped", id, clip(kind, 32))
			return nil
		case provider == "" || subject == "" || len(provider) > 64 || len(subject) > 255:
			im.sum.AccountsSkipped++
			im.report("account %s: provider %q / providerAccountId %q: want both, at most 64 and 255 characters: skipped", id, clip(provider, 80), clip(subject, 80))
			return nil
		}
		provider = strings.ToLower(provider)
		k := key{provider, subject}
		if owner, ok := present[k]; ok {
			if owner != uid {
				im.sum.AccountsSkipped++
				im.report("account %s: %s account %s is already linked to another sessiond user: skipped", id, provider, clip(subject, 80))
			} else {
				im.sum.AccountsPresent++
			}
			return nil
		}
		present[k] = uid
		batch = append(batch, Account{UserID: uid, Provider: provider, Subject: subject, CreatedAt: im.in.Now})
		if len(batch) == importBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// importSessions copies the live sessions, their tokens hashed; expired
// ones are counted, not copied.
func (im *authjsImporter) importSessions(ctx context.Context) error {
	var err error
	if im.sum.SessionsExpired, err = im.src.countExpired(ctx, im.in.Now); err != nil {
		return err
	}
	var batch []Session
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		total := len(batch) // bun shortens the slice to the rows the INSERT returns
		res, err := im.tx.NewInsert().Model(&batch).On("CONFLICT (token_hash) DO NOTHING").Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		im.sum.Sessions += int(n)
		im.sum.SessionsPresent += total - int(n)
		batch = batch[:0]
		return nil
	}
	err = im.src.eachLiveSession(ctx, im.in.Now, func(id, userID, token string, expires time.Time) error {
		uid, ok := im.users[userID]
		switch {
		case !ok:
			im.sum.SessionsSkipped++
			im.report("session %s: its user %s was not imported: skipped", id, userID)
			return nil
		case !ImportedTokenShape(token):
			im.sum.SessionsSkipped++
			im.report("session %s: its token is not one a browser cookie could carry (%d characters): skipped", id, len(token))
			return nil
		}
		batch = append(batch, Session{TokenHash: HashToken(token), UserID: uid, ExpiresAt: expires.UTC(), CreatedAt: im.in.Now,
			LastSeenAt: im.in.Now, Provider: AuthJSProvider})
		if len(batch) == importBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// ImportedTokenShape reports whether token could be an imported Auth.js
// session token: 16 to 255 characters of letters, digits, '-' and '_' (a
// UUID, or hex). Anything else never reaches the database.
func ImportedTokenShape(token string) bool {
	if len(token) < 16 || len(token) > 255 {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// hasColumn reports whether table has column in db's schema.
func hasColumn(ctx context.Context, db *DB, table, column string) (bool, error) {
	var n int
	var err error
	if db.Kind == Postgres {
		err = db.NewRaw(`SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?`,
			table, column).Scan(ctx, &n)
	} else {
		err = db.NewRaw(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(ctx, &n)
	}
	return n > 0, Wrap(err, "read the schema")
}

package models

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// SeedOptions describe demo data for the console and for benchmarks.
type SeedOptions struct {
	Users        int
	Sessions     int
	ExpiredRatio float64 // 0..1 of the sessions already expired
	Now          time.Time
	MaxAge       time.Duration
	PasswordHash string // one precomputed hash shared by every seeded user
	Seed         uint64 // for repeatable data; 0 picks one
}

// seedBatch rows go in one multi-row INSERT on PostgreSQL; seedTxRows rows
// in one transaction (one statement on SQLite, about a second of its single
// writer), so a running server is never held off for long.
const (
	seedBatch  = 500
	seedTxRows = 50000
)

var (
	seedFirst = []string{"Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Radia", "Tim",
		"Frances", "Edsger", "Hedy", "Donald", "Katherine", "Guido", "Anita", "Rob", "Joan", "Niklaus"}
	seedLast = []string{"Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
		"Perlman", "Berners-Lee", "Allen", "Dijkstra", "Lamarr", "Knuth", "Johnson", "van Rossum", "Borg", "Pike",
		"Clarke", "Wirth"}
	seedAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
		"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
		"curl/8.8.0",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
	}
)

// SeedResult says what Seed inserted.
type SeedResult struct {
	Users, Sessions, Expired int
}

// Seed inserts demo users and sessions with varied agents, addresses and
// ages, some expired. It writes no audit events: seeding is not activity.
// progress, when set, is called after each transaction.
func Seed(ctx context.Context, db *DB, o SeedOptions, progress func(done int)) (SeedResult, error) {
	var res SeedResult
	switch {
	case o.Users <= 0:
		return res, Invalid("users", "must be at least 1")
	case o.Sessions < 0:
		return res, Invalid("sessions", "must not be negative")
	case o.ExpiredRatio < 0 || o.ExpiredRatio > 1:
		return res, Invalid("expired-ratio", "must be between 0 and 1")
	case o.PasswordHash == "":
		return res, Invalid("password", "a password hash is required")
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultPolicy.MaxAge
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	now := o.Now.UTC().Truncate(time.Microsecond)
	ids, err := seedUsers(ctx, db, o, now)
	if err != nil {
		return res, err
	}
	res.Users = len(ids)
	var hashSeed [8]byte
	binary.LittleEndian.PutUint64(hashSeed[:], rng.Uint64())
	if db.Kind == SQLite {
		// A bigger page cache for this connection: the token_hash index takes
		// random inserts, and a million of them thrash the default 16 MB.
		if _, err := db.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil {
			return res, Wrap(err, "seed")
		}
		defer db.ExecContext(context.WithoutCancel(ctx), "PRAGMA cache_size = -16000") //nolint:errcheck // best effort
	}
	for done := 0; done < o.Sessions; {
		n := min(seedTxRows, o.Sessions-done)
		var err error
		if db.Kind == SQLite {
			err = seedChunkJSON(ctx, db, rng, ids, hashSeed[:], done, n, now, o, &res)
		} else {
			err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				return seedChunk(ctx, db, tx, rng, ids, hashSeed[:], done, n, now, o, &res)
			})
		}
		if err != nil {
			return res, Wrap(err, "seed sessions")
		}
		done += n
		res.Sessions = done
		if progress != nil {
			progress(done)
		}
	}
	return res, nil
}

const seedColumns = 7

// seedChunk inserts sessions from..from+n in multi-row INSERTs through
// the driver's own placeholders (bun would format every value into the SQL
// text), in created_at order so most index inserts append.
func seedChunk(ctx context.Context, db *DB, tx bun.Tx, rng *rand.Rand, users []int64, hashSeed []byte, from, n int, now time.Time, o SeedOptions, res *SeedResult) error {
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	args := make([]any, 0, seedBatch*seedColumns)
	for i := 0; i < n; {
		rows := min(seedBatch, n-i)
		st, ok := stmts[rows]
		if !ok {
			var err error
			if st, err = tx.Tx.PrepareContext(ctx, db.Rebind(seedInsertSQL(rows))); err != nil {
				return err
			}
			stmts[rows] = st
		}
		args = args[:0]
		for j := 0; j < rows; j++ {
			row := seedRow(db, rng, users, hashSeed, from+i+j, now, o, res)
			args = append(args, row[:]...)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
		i += rows
	}
	return nil
}

// seedChunkJSON inserts sessions from..from+n on SQLite as one statement
// reading a JSON array of rows, run on its own (autocommit). One statement
// per chunk spares SQLite the statement journal that a multi-row INSERT
// inside a longer transaction writes and frees for every batch.
func seedChunkJSON(ctx context.Context, db *DB, rng *rand.Rand, users []int64, hashSeed []byte, from, n int, now time.Time, o SeedOptions, res *SeedResult) error {
	rows := make([][seedColumns]any, n)
	for i := range rows {
		rows[i] = seedRow(db, rng, users, hashSeed, from+i, now, o, res)
	}
	data, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	_, err = db.DB.DB.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at, ip, user_agent)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6 FROM json_each(?)`, string(data))
	return err
}

// seedRow is session n in the columns of seedInsertSQL, counted in res
// when it is already expired.
func seedRow(db *DB, rng *rand.Rand, users []int64, hashSeed []byte, n int, now time.Time, o SeedOptions, res *SeedResult) [seedColumns]any {
	s := seedSession(rng, users, hashSeed, n, now, o)
	if !s.ExpiresAt.After(now) {
		res.Expired++
	}
	return [seedColumns]any{s.TokenHash, s.UserID, db.T(s.ExpiresAt), db.T(s.CreatedAt), db.T(s.LastSeenAt), s.IP, s.UserAgent}
}

func seedInsertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at, ip, user_agent) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?)")
	}
	return b.String()
}

func seedUsers(ctx context.Context, db *DB, o SeedOptions, now time.Time) ([]int64, error) {
	var maxID int64
	if err := db.NewSelect().Model((*User)(nil)).ColumnExpr("COALESCE(MAX(id), 0)").Scan(ctx, &maxID); err != nil {
		return nil, Wrap(err, "seed users")
	}
	ids := make([]int64, 0, o.Users)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for start := 0; start < o.Users; start += seedBatch {
			batch := make([]User, 0, seedBatch)
			for i := start; i < min(start+seedBatch, o.Users); i++ {
				n := maxID + int64(i) + 1
				first, last := seedFirst[i%len(seedFirst)], seedLast[(i/len(seedFirst))%len(seedLast)]
				batch = append(batch, User{
					Email: NormalizeEmail(fmt.Sprintf("%s.%s.%d@example.com", first, last, n)),
					Name:  first + " " + last, Role: RoleUser, PasswordHash: o.PasswordHash,
					CreatedAt: now.Add(-time.Duration(i%365) * 24 * time.Hour), UpdatedAt: now,
				})
			}
			if _, err := tx.NewInsert().Model(&batch).Returning("id").Exec(ctx); err != nil {
				return err
			}
			for _, u := range batch {
				ids = append(ids, u.ID)
			}
		}
		return nil
	})
	return ids, Wrap(err, "seed users")
}

// seedSession makes one plausible session: created within the last 120
// days; active ones expire within MaxAge, expired ones ended between their
// creation and now.
func seedSession(rng *rand.Rand, users []int64, hashSeed []byte, n int, now time.Time, o SeedOptions) Session {
	h := sha256.New()
	h.Write(hashSeed)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
	randDur := func(max time.Duration) time.Duration {
		return time.Duration(rng.Int64N(int64(max))).Truncate(time.Second)
	}
	// Sessions are spread over the last 120 days in creation order.
	span := 120 * 24 * time.Hour
	step := span / time.Duration(max(o.Sessions, 1))
	created := now.Add(-span + time.Duration(n)*step + randDur(max(step, time.Second)))
	if latest := now.Add(-2 * time.Minute); created.After(latest) {
		created = latest
	}
	var expires time.Time
	if rng.Float64() < o.ExpiredRatio {
		expires = created.Add(time.Minute + randDur(min(o.MaxAge, now.Sub(created)-time.Minute)))
		if expires.After(now) {
			expires = now.Add(-time.Second)
		}
	} else {
		expires = now.Add(time.Minute + randDur(o.MaxAge))
	}
	seenUntil := expires
	if seenUntil.After(now) {
		seenUntil = now
	}
	seen := created
	if span := seenUntil.Sub(created); span > 0 {
		seen = created.Add(randDur(span))
	}
	ip := fmt.Sprintf("%d.%d.%d.%d", []int{203, 198, 192, 100, 172}[rng.IntN(5)], rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	if rng.IntN(10) == 0 {
		ip = fmt.Sprintf("2001:db8:%x::%x", rng.IntN(0xffff), 1+rng.IntN(0xfffe))
	}
	return Session{
		TokenHash: hex.EncodeToString(h.Sum(nil)), UserID: users[rng.IntN(len(users))],
		ExpiresAt: expires, CreatedAt: created, LastSeenAt: seen, IP: ip,
		UserAgent: seedAgents[rng.IntN(len(seedAgents))],
	}
}

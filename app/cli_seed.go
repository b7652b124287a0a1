package app

import (
	"context"
	"flag"
	"fmt"
	"time"

	"sessiond/models"
)

// runSeed fills the database with demo users and sessions for trying the
// console and for benchmarks. Seeded users share one password hash, made
// once: from --password, or from a random password nobody knows.
func runSeed(ctx context.Context, env Env, cfg Config, db *models.DB, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	users := fs.Int("users", 100, "users to create")
	sessions := fs.Int("sessions", 1000, "sessions to create")
	ratio := fs.Float64("expired-ratio", 0.2, "share of the sessions already expired (0..1)")
	password := fs.String("password", "", "password of every seeded user (default: random, so nobody can sign in as one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("seed: unexpected argument %q", fs.Arg(0))
	}
	pw := *password
	if pw == "" {
		var err error
		if pw, err = models.NewToken(); err != nil {
			return err
		}
	}
	hash, err := models.HashPassword(pw)
	if err != nil {
		return err
	}
	start := time.Now()
	progress := func(done int) {
		fmt.Fprintf(env.Stderr, "\r%d/%d sessions", done, *sessions)
	}
	res, err := models.Seed(ctx, db, models.SeedOptions{
		Users: *users, Sessions: *sessions, ExpiredRatio: *ratio, Now: time.Now(),
		MaxAge: cfg.SessionMaxAge, PasswordHash: hash,
	}, progress)
	if *sessions > 0 {
		fmt.Fprintln(env.Stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "seeded %d users and %d sessions (%d expired) in %s\n",
		res.Users, res.Sessions, res.Expired, time.Since(start).Round(time.Millisecond))
	return nil
}

package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"sessiond/jobs"
	"sessiond/models"
)

// accountCommands are the users subcommands that recover or suspend an
// account; runUserAccount runs them.
var accountCommands = map[string]bool{"set-password": true, "reset-link": true, "disable": true, "enable": true, "set-groups": true}

// cliAudit marks what the command line did in the audit trail.
var cliAudit = models.Audit{UserAgent: "sessiond CLI"}

// runUserAccount: users set-password --email E (password on stdin), users
// reset-link --email E [--send], users disable|enable --email E, users
// set-groups --email E --groups a,b.
func runUserAccount(ctx context.Context, env Env, cfg Config, db *models.DB, sub string, args []string) error {
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	email := fs.String("email", "", "email address")
	id := fs.Int64("id", 0, "user id")
	send := fs.Bool("send", false, "reset-link: mail the link instead of printing it")
	groups := fs.String("groups", "", "set-groups: the groups, comma-separated (empty for none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := findUserArg(ctx, db, models.NormalizeEmail(*email), *id)
	if err != nil {
		return err
	}
	now := time.Now()
	switch sub {
	case "set-password":
		pw, err := readPassword(env.Stdin)
		if err != nil {
			return err
		}
		n, err := models.SetUserPassword(ctx, db, u.ID, pw, 0, cliAudit, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "password of %s set; %d session(s) ended\n", u.Email, n)
	case "reset-link":
		if *send {
			return cliSendResetLink(ctx, env, db, u, now)
		}
		raw, err := models.MintUserToken(ctx, db, &models.UserToken{UserID: u.ID, Purpose: models.TokenReset}, models.ResetTokenTTL, now)
		if err != nil {
			return err
		}
		_ = models.RecordEvent(ctx, db, &models.Event{At: now, Kind: eventResetLinkCopied, UserID: &u.ID, UserAgent: cliAudit.UserAgent, Detail: "via CLI"})
		fmt.Fprintln(env.Stdout, cfg.PublicURL()+"/password/reset?token="+raw)
	case "set-groups":
		stored, err := models.SetUserGroups(ctx, db, u.ID, strings.Split(*groups, ","), cliAudit, now)
		if err != nil {
			return err
		}
		if stored == "" {
			stored = "none"
		}
		fmt.Fprintf(env.Stdout, "groups of %s: %s\n", u.Email, stored)
	case "disable", "enable":
		n, err := models.SetUserDisabled(ctx, db, u.ID, sub == "disable", cliAudit, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%sd %s; %d session(s) ended\n", sub, u.Email, n)
	}
	return nil
}

// cliSendResetLink queues the reset mail; the running server sends it.
func cliSendResetLink(ctx context.Context, env Env, db *models.DB, u *models.User, now time.Time) error {
	q, err := jobs.NewQueue(ctx, db, slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), jobs.QueueConfig{})
	if err != nil {
		return err
	}
	defer q.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // an insert-only queue has nothing to stop
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		ev := &models.Event{At: now, Kind: eventResetLinkSent, UserID: &u.ID, UserAgent: cliAudit.UserAgent, Detail: "via CLI"}
		if err := models.RecordEvent(ctx, tx, ev); err != nil {
			return err
		}
		return q.EnqueueMail(ctx, tx, jobs.MailArgs{Template: mailPasswordReset, To: u.Email, UserID: u.ID}, now)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "reset link for %s queued: the running server mails it (or logs it when SMTP_URL is unset)\n", u.Email)
	return nil
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("give the new password on standard input")
	}
	return pw, nil
}

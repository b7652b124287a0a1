package app

import (
	"bufio"
	"cmp"
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
var accountCommands = map[string]bool{"set-password": true, "reset-link": true, "disable": true, "enable": true, "set-groups": true, "edit": true}

// cliAudit marks what the command line did in the audit trail.
var cliAudit = models.Audit{UserAgent: "sessiond CLI"}

// runUserAccount: users set-password --email E (password on stdin), users
// reset-link --email E [--send], users disable|enable --email E, users
// set-groups --email E --groups a,b, users edit --email E [--name N]
// [--new-email E2].
func runUserAccount(ctx context.Context, env Env, cfg Config, db *models.DB, sub string, args []string) error {
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	email := fs.String("email", "", "email address")
	id := fs.Int64("id", 0, "user id")
	send := fs.Bool("send", false, "reset-link: mail the link instead of printing it")
	groups := fs.String("groups", "", "set-groups: the groups, comma-separated (empty for none)")
	newName := fs.String("name", "", "edit: the new name")
	newEmail := fs.String("new-email", "", "edit: the new email (confirmed by a mailed link when SMTP_URL is set)")
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
	case "edit":
		return cliEdit(ctx, env, cfg, db, u, *newName, *newEmail, now)
	case "disable", "enable":
		n, err := models.SetUserDisabled(ctx, db, u.ID, sub == "disable", cliAudit, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%sd %s; %d session(s) ended\n", sub, u.Email, n)
	}
	return nil
}

// cliQueue is an insert-only queue: the command queues mail, the running
// server sends it.
func cliQueue(ctx context.Context, env Env, db *models.DB) (*jobs.Queue, error) {
	return jobs.NewQueue(ctx, db, slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), jobs.QueueConfig{})
}

// cliEdit changes a user's name and email as the users page does: with
// SMTP_URL set, a new email waits for the link the server mails to it.
func cliEdit(ctx context.Context, env Env, cfg Config, db *models.DB, u *models.User, name, email string, now time.Time) error {
	in := models.ProfileUpdate{Name: cmp.Or(name, u.Name), Email: cmp.Or(email, u.Email), VerifyEmail: cfg.SMTP != nil}
	q, err := cliQueue(ctx, env, db)
	if err != nil {
		return err
	}
	defer q.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // an insert-only queue has nothing to stop
	res, err := models.UpdateProfile(ctx, db, u.ID, in, cliAudit, now, func(ctx context.Context, tx bun.Tx, u *models.User, to string) error {
		return q.EnqueueMail(ctx, tx, jobs.MailArgs{Template: mailEmailVerify, To: to, UserID: u.ID}, now)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "user %d: %s <%s>\n", res.User.ID, res.User.Name, res.User.Email)
	if res.PendingEmail != "" {
		fmt.Fprintf(env.Stdout, "the new email %s applies once the link the server mails to it is followed\n", res.PendingEmail)
	}
	return nil
}

// cliSendResetLink queues the reset mail; the running server sends it.
func cliSendResetLink(ctx context.Context, env Env, db *models.DB, u *models.User, now time.Time) error {
	q, err := cliQueue(ctx, env, db)
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

package app

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"sessiond/models"
)

// runTokens: tokens create --email E --name N --scopes a,b [--expires 30d]
// (prints the secret once), tokens list, tokens revoke --id N. A token made
// here for an admin is a service token; for anyone else, personal.
func runTokens(ctx context.Context, env Env, db *models.DB, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("tokens: want create, list or revoke")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("tokens "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	email := fs.String("email", "", "the owner's email address")
	name := fs.String("name", "", "what the token is for")
	scopes := fs.String("scopes", "", "comma-separated: "+strings.Join(models.Scopes, ","))
	expires := fs.String("expires", "", "lifetime, e.g. 30d or 12h (default: never)")
	id := fs.Int64("id", 0, "token id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	switch sub {
	case "create":
		u, err := findUserArg(ctx, db, models.NormalizeEmail(*email), 0)
		if err != nil {
			return err
		}
		list, err := models.ParseScopes(*scopes)
		if err != nil {
			return err
		}
		exp, err := ParseExpiry(*expires, now)
		if err != nil {
			return err
		}
		kind := models.TokenPersonal
		if u.IsAdmin() {
			kind = models.TokenService
		}
		secret, tok, err := models.CreateAPIToken(ctx, db, models.NewAPIToken{UserID: u.ID, Kind: kind, Name: *name, Scopes: list, ExpiresAt: exp}, now)
		if err != nil {
			return err
		}
		_ = models.RecordEvent(ctx, db, cliAudit.Event(models.EventTokenCreated, now, 0, u.ID, fmt.Sprintf("token=%d name=%s scopes=%s via CLI", tok.ID, tok.Name, tok.Scopes)))
		fmt.Fprintf(env.Stderr, "created token %d for %s; the secret is shown only now:\n", tok.ID, u.Email)
		fmt.Fprintln(env.Stdout, secret)
		return nil
	case "list":
		list, err := models.ListAPITokens(ctx, db, 0)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tOWNER\tKIND\tNAME\tTOKEN\tSCOPES\tEXPIRES\tLAST USED\tSTATUS")
		for i := range list {
			r := tokenJSON(&list[i], now)
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", r.ID, r.Owner, r.Kind, r.Name, r.Prefix,
				strings.Join(r.Scopes, ","), cliTime(r.ExpiresAt), cliTime(r.LastUsedAt), r.Status)
		}
		return tw.Flush()
	case "revoke":
		if *id <= 0 {
			return fmt.Errorf("tokens revoke: name the token with --id")
		}
		if err := models.RevokeAPIToken(ctx, db, *id, 0, now); err != nil {
			return fmt.Errorf("tokens revoke %d: %w", *id, err)
		}
		_ = models.RecordEvent(ctx, db, cliAudit.Event(models.EventTokenRevoked, now, 0, 0, fmt.Sprintf("token=%d via CLI", *id)))
		fmt.Fprintf(env.Stdout, "revoked token %d\n", *id)
		return nil
	}
	return fmt.Errorf("tokens: unknown subcommand %q", sub)
}

func cliTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

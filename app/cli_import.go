package app

import (
	"context"
	"flag"
	"fmt"
	"time"

	"sessiond/models"
)

// maxReported is how many skipped rows an import lists one by one.
const maxReported = 100

// runImport is `sessiond import authjs --from postgres://… [--sessions] [--dry-run]`.
func runImport(ctx context.Context, env Env, db *models.DB, args []string) error {
	if len(args) == 0 || args[0] != "authjs" {
		return fmt.Errorf("import: want authjs (sessiond import authjs --from postgres://…)")
	}
	fs := flag.NewFlagSet("import authjs", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	from := fs.String("from", "", "the Auth.js database, postgres://… (search_path in the URL for another schema)")
	sessions := fs.Bool("sessions", false, "import live sessions too, so nobody is signed out")
	dryRun := fs.Bool("dry-run", false, "say what would be imported, change nothing")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *from == "" {
		return fmt.Errorf("import authjs: --from postgres://… is required")
	}
	src, err := models.OpenAuthJS(ctx, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	reported, skipped := 0, 0
	report := func(problem string) {
		skipped++
		if reported < maxReported {
			reported++
			fmt.Fprintln(env.Stdout, "skipped: "+problem)
		}
	}
	sum, err := models.ImportAuthJS(ctx, db, models.AuthJSImport{Source: src, Sessions: *sessions, DryRun: *dryRun, Now: time.Now().UTC(), Report: report})
	if err != nil {
		return fmt.Errorf("import failed, nothing was imported: %w", err)
	}
	if skipped > reported {
		fmt.Fprintf(env.Stdout, "skipped: … and %d more rows\n", skipped-reported)
	}
	printImportSummary(env, sum, *sessions, *dryRun)
	return nil
}

func printImportSummary(env Env, sum models.AuthJSSummary, sessions, dryRun bool) {
	verb := "imported"
	if dryRun {
		verb = "would import (dry run, nothing changed)"
	}
	fmt.Fprintf(env.Stdout, "Auth.js tables: %s\n", sum.Tables)
	fmt.Fprintf(env.Stdout, "users:    %s %d, already here %d (matched by email), skipped %d\n", verb, sum.Users, sum.UsersMatched, sum.UsersSkipped)
	if sum.VerifiedKept {
		fmt.Fprintf(env.Stdout, "          %d verified emails recorded\n", sum.UsersVerified)
	} else if sum.UsersVerified > 0 {
		fmt.Fprintf(env.Stdout, "          %d verified emails not recorded (this sessiond keeps no verification state)\n", sum.UsersVerified)
	}
	fmt.Fprintf(env.Stdout, "accounts: %s %d, already here %d, skipped %d\n", verb, sum.Accounts, sum.AccountsPresent, sum.AccountsSkipped)
	if sessions {
		fmt.Fprintf(env.Stdout, "sessions: %s %d, already here %d, expired (left out) %d, skipped %d\n", verb, sum.Sessions, sum.SessionsPresent, sum.SessionsExpired, sum.SessionsSkipped)
	} else {
		fmt.Fprintln(env.Stdout, "sessions: not imported (add --sessions to keep people signed in)")
	}
	secs := sum.Took.Seconds()
	if secs > 0 {
		fmt.Fprintf(env.Stdout, "took %.1fs (%.0f users/s, %.0f sessions/s)\n", secs, float64(sum.Users+sum.UsersMatched)/secs, float64(sum.Sessions+sum.SessionsPresent)/secs)
	}
}

package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"sessiond/models"
)

// Env is what a command runs with: its streams and the environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Reload delivers SIGHUP: the server re-reads its settings (see
	// Server.Reload). Nil: no reloads.
	Reload <-chan os.Signal
}

const usage = `usage: sessiond [command]

commands:
  serve                  run the server (the default)
  migrate                apply database migrations
  doctor                 check settings and the database
  users create --email E --name N [--role admin|user] [--password P]
  users list
  users delete --email E | --id N
  users set-role --email E | --id N --role admin|user
  users set-password --email E       (the new password on stdin; every session ends)
  users reset-link --email E [--send] (print a reset link, or mail it)
  users disable|enable --email E
  users edit --email E | --id N [--name N] [--new-email E2]
  users set-groups --email E --groups a,b   (replaces the groups; --groups "" for none)
  users reset-2fa --email E | --id N
  sessions cleanup [--dry-run] [--verbose]
  tokens create --email E --name N --scopes a,b [--expires 30d]  (prints the secret once)
  tokens list
  tokens revoke --id N
  seed --users N --sessions M [--expired-ratio R]
  import authjs --from postgres://… [--sessions] [--dry-run]
  version
`

// errUsage marks a mistake on the command line.
var errUsage = errors.New("usage")

// Run is the whole program: main only calls it. It returns when ctx ends
// (SIGINT/SIGTERM) or the command is done.
func Run(ctx context.Context, args []string, env Env) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, env)
	case "version":
		fmt.Fprintln(env.Stdout, "sessiond", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	case "migrate":
		return withDB(ctx, env, runMigrate)
	case "doctor":
		return runDoctor(ctx, env)
	case "users":
		return withDB(ctx, env, func(ctx context.Context, env Env, cfg Config, db *models.DB) error {
			if len(args) > 0 && accountCommands[args[0]] {
				return runUserAccount(ctx, env, cfg, db, args[0], args[1:])
			}
			return runUsers(ctx, env, db, args)
		})

	case "sessions": // sessions cleanup
		return withDB(ctx, env, func(ctx context.Context, env Env, cfg Config, db *models.DB) error {
			return runSessions(ctx, env, cfg, db, args)
		})

	case "tokens":
		return withDB(ctx, env, func(ctx context.Context, env Env, cfg Config, db *models.DB) error {
			return runTokens(ctx, env, db, args)
		})

	case "import":
		return withDB(ctx, env, func(ctx context.Context, env Env, cfg Config, db *models.DB) error {
			return runImport(ctx, env, db, args)
		})

	case "seed":
		return withDB(ctx, env, func(ctx context.Context, env Env, cfg Config, db *models.DB) error {
			return runSeed(ctx, env, cfg, db, args)
		})

	}
	fmt.Fprint(env.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// stampedVersion is set when a release is built (task release:
// -ldflags "-X sessiond/app.stampedVersion=v1.2.3"); the linker can set
// only a package variable, so this is the one.
var stampedVersion string

func version() string {
	if stampedVersion != "" {
		return stampedVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// withDB loads the config, opens and migrates the database, and runs fn.
func withDB(ctx context.Context, env Env, fn func(context.Context, Env, Config, *models.DB) error) error {
	cfg, err := LoadConfig(env.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := models.Migrate(ctx, db); err != nil {
		return err
	}
	return fn(ctx, env, cfg, db)
}

func runServe(ctx context.Context, env Env) error {
	cfg, err := LoadConfig(env.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	logs := newLogBuffer(env.Stderr, time.Second)
	defer logs.Close()
	log := newLogger(level, cfg.LogFormat, logs)
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := models.Migrate(ctx, db)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "ids", strings.Join(applied, ","))
	}
	srv, err := New(ctx, cfg, db, log, Options{LogLevel: level})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	if cfg.BaseURL != nil {
		base = cfg.BaseURL.String()
	}
	if token, err := srv.OpenSetup(ctx); err != nil {
		return err
	} else if token != "" {
		log.Warn("no admin exists yet: open this link once to create the first admin", "url", base+"/setup?token="+token)
	}
	log.Info("sessiond listening", "addr", ln.Addr().String(), "database", string(db.Kind), "version", version())
	go srv.watchReloads(ctx, env.Reload, env.Getenv)
	return srv.Run(ctx, ln)
}

// Run serves on ln and runs the scheduled jobs and the delivery queue
// until ctx ends. Then it cancels a running job (a cleanup stops between
// chunks) while it drains requests; once no request can enqueue anything
// more, the queue finishes the deliveries under way. It returns when all
// are done, before the caller closes the database.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	s.cleanup.MarkAbandoned(ctx)
	if err := s.queue.Start(ctx); err != nil {
		return err
	}
	s.jobs.Start()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan error, 1)
	go func() {
		<-ctx.Done()
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- s.jobs.Stop(stopCtx)
	}()
	dispatched := make(chan struct{})
	go func() { s.dispatch.Run(ctx); close(dispatched) }()
	err := s.serve(ctx, ln)
	cancel()
	<-dispatched // a batch under way is queued (or rolled back) before the queue stops
	if serr := <-stopped; serr != nil {
		s.log.Warn("background jobs did not stop in time", "error", serr)
	}
	queueCtx, queueCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer queueCancel()
	if qerr := s.queue.Stop(queueCtx); qerr != nil {
		s.log.Warn("deliveries under way did not finish in time; they are retried on the next start", "error", qerr)
	}
	return err
}

func runMigrate(ctx context.Context, env Env, cfg Config, db *models.DB) error {
	// withDB has migrated already; say what is in place.
	migs, err := models.Migrations(db.Kind)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "database is at migration %s (%s)\n", migs[len(migs)-1].ID, db.Kind)
	return nil
}

func runUsers(ctx context.Context, env Env, db *models.DB, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("users: want create, list, delete, set-role, reset-2fa, set-password, reset-link, disable, enable, set-groups or edit")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	email := fs.String("email", "", "email address")
	name := fs.String("name", "", "display name")
	role := fs.String("role", "", "admin or user")
	password := fs.String("password", "", "password (read from stdin when absent)")
	id := fs.Int64("id", 0, "user id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	switch sub {
	case "create":
		pw := *password
		if pw == "" {
			line, err := bufio.NewReader(env.Stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read password from stdin: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		r := *role
		if r == "" {
			r = models.RoleUser
		}
		u, err := models.CreateUser(ctx, db, models.NewUser{Email: *email, Name: *name, Role: r, Password: pw, EmailVerified: true}, now)
		if err != nil {
			return err
		}
		_ = models.RecordEvent(ctx, db, &models.Event{At: now, Kind: models.EventUserCreated, UserID: &u.ID, Detail: "via CLI"})
		fmt.Fprintf(env.Stdout, "created %s %s (id %d)\n", u.Role, u.Email, u.ID)
		return nil
	case "list":
		users, _, err := models.ListUsers(ctx, db, "", 100000, 0, now)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tGROUPS\tACTIVE SESSIONS\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", u.ID, u.Email, u.Name, u.Role, u.GroupNames, u.ActiveSessions, u.CreatedAt.UTC().Format(time.DateOnly))
		}
		return tw.Flush()
	case "delete", "set-role", "reset-2fa":
		u, err := findUserArg(ctx, db, *email, *id)
		if err != nil {
			return err
		}
		if sub == "reset-2fa" {
			n, err := models.ResetFactors(ctx, db, u.ID, models.Audit{UserAgent: "sessiond CLI"}, now)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "removed every second factor of %s; %d session(s) ended\n", u.Email, n)
			return nil
		}
		if sub == "delete" {
			n, err := models.DeleteUser(ctx, db, u.ID, models.Audit{UserAgent: "sessiond CLI"}, now)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "deleted %s and %d session(s)\n", u.Email, n)
			return nil
		}
		n, err := models.SetUserRole(ctx, db, u.ID, *role, models.Audit{UserAgent: "sessiond CLI"}, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s is now %s; %d session(s) ended\n", u.Email, *role, n)
		return nil
	}
	return fmt.Errorf("users: unknown subcommand %q", sub)
}

func findUserArg(ctx context.Context, db *models.DB, email string, id int64) (*models.User, error) {
	switch {
	case email != "":
		return models.FindUserByEmail(ctx, db, email)
	case id > 0:
		return models.FindUser(ctx, db, id)
	}
	return nil, errors.New("name the user with --email or --id")
}

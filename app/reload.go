package app

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// WithSignals is how the binary runs a command: ctx ends on SIGINT or
// SIGTERM (the server drains, then returns), and each SIGHUP arrives on
// env.Reload. stop releases the signals.
func WithSignals(env Env) (ctx context.Context, withReload Env, stop func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	env.Reload = hup
	return ctx, env, func() { signal.Stop(hup); cancel() }
}

// reloader applies one part of a freshly read configuration to the running
// server. Everything a SIGHUP can change joins s.reloaders.
type reloader struct {
	name  string
	apply func(cfg *Config) error
}

// Reload reads the settings again — the environment is the process's own
// and does not change, but every NAME_FILE is read anew, so LOG_LEVEL_FILE
// and files such as ACCESS_RULES can — and applies what can change
// without a restart. A configuration with mistakes changes nothing.
func (s *Server) Reload(ctx context.Context, getenv func(string) string) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		s.log.ErrorContext(ctx, "reload refused: the settings have mistakes; nothing changed", "error", err)
		return err
	}
	for _, r := range s.reloaders {
		if err := r.apply(&cfg); err != nil {
			s.log.ErrorContext(ctx, "reload: "+r.name+" kept as it was", "error", err)
			return err
		}
	}
	s.log.InfoContext(ctx, "settings reloaded", "log_level", cfg.LogLevel.String())
	return nil
}

// reloadLogLevel makes LOG_LEVEL follow a reload, when the logger's level
// is a LevelVar (the binary's is; a test's logger may be fixed).
func reloadLogLevel(level *slog.LevelVar) reloader {
	return reloader{name: "log level", apply: func(cfg *Config) error {
		if level != nil {
			level.Set(cfg.LogLevel)
		}
		return nil
	}}
}

// watchReloads reloads on every signal from reload until ctx ends.
func (s *Server) watchReloads(ctx context.Context, reload <-chan os.Signal, getenv func(string) string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			_ = s.Reload(ctx, getenv) // logged; the server goes on either way
		}
	}
}

// Command peers runs the servers that sessiond's load benchmark compares
// itself with: a bare Fiber handler, alexedwards/scs and Fiber's session
// middleware, each on SQLite or PostgreSQL, and seeds their session tables.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  peers serve -kind bare|scs|fiber -db DSN -addr 127.0.0.1:PORT
  peers seed  -kind scs|fiber -db DSN -sessions N -live N -users N -out tokens.txt
DSN is sqlite:/path/to/file.db or a postgres:// URL.`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serveCmd(ctx, os.Args[2:])
	case "seed":
		err = seedCmd(ctx, os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func serveCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	kind := fs.String("kind", "", "bare, scs or fiber")
	dsn := fs.String("db", "", "sqlite:/path/to/file.db or postgres://... (ignored by bare)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	return serve(ctx, *kind, *dsn, ln)
}

func seedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	var o seedOpts
	fs.StringVar(&o.kind, "kind", "", "scs or fiber")
	fs.StringVar(&o.dsn, "db", "", "sqlite:/path/to/file.db or postgres://...")
	fs.IntVar(&o.sessions, "sessions", 200000, "sessions to insert")
	fs.IntVar(&o.live, "live", 180000, "sessions of them that expire in 30 days; the rest are expired")
	fs.IntVar(&o.users, "users", 10000, "users the sessions belong to, round-robin")
	out := fs.String("out", "tokens.txt", "file for the live tokens, one a line")
	fs.Parse(args)
	tokens, err := seed(ctx, o)
	if err != nil {
		return err
	}
	return writeLines(*out, tokens)
}

// serve runs one peer on ln until ctx is done.
func serve(ctx context.Context, kind, dsn string, ln net.Listener) error {
	switch kind {
	case "bare":
		return serveBare(ctx, ln)
	case "scs":
		return serveSCS(ctx, dsn, ln)
	case "fiber":
		return serveFiber(ctx, dsn, ln)
	}
	ln.Close()
	return fmt.Errorf("unknown -kind %q (want bare, scs or fiber)", kind)
}

func writeLines(path string, lines []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
	return f.Close()
}

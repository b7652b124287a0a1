package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// The harness both load tests share: starting and stopping servers, wrk
// and its figures, and the table they print.

type benchRow struct{ db, scenario, figure, value, note string }

// benchStart skips unless the load benchmark was asked for, fails without
// wrk, and returns the repository's root and the benchmark's work folder.
func benchStart(t *testing.T) (root, dir string) {
	if os.Getenv("SESSIOND_BENCH") != "1" {
		t.Skip("load benchmark: run `task bench` (SESSIOND_BENCH=1)")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk not installed (apt-get install -y wrk)")
	}
	root, _ = filepath.Abs("..")
	return root, filepath.Join(root, ".bench")
}

// benchPostgresURL is the sessiond_bench database on the test server,
// created when missing; "" when PostgreSQL is unreachable.
func benchPostgresURL(t *testing.T) string { return benchPostgresDB(t, "sessiond_bench") }

// benchPostgresDB is the named database on the test server, created when
// missing; "" when PostgreSQL is unreachable.
func benchPostgresDB(t *testing.T, name string) string {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = testdb.DefaultPostgresURL
	}
	ctx := context.Background()
	admin, err := models.Open(ctx, base)
	if err != nil {
		t.Logf("PostgreSQL unreachable, benchmarking SQLite only: %v", err)
		return ""
	}
	defer admin.Close()
	var n int
	_ = admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = ?", name).Scan(&n)
	if n == 0 {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

type benchServer struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts cmd, which listens on addr, and waits for /healthz.
func startServer(t *testing.T, cmd *exec.Cmd, addr string) *benchServer {
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &benchServer{t: t, cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(s.base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			t.Fatal("server did not start")
		}
	}
	return s
}

// get fetches path with the session cookie of token and fails the test
// unless the answer is 200.
func (s *benchServer) get(t *testing.T, path, token, accept string) []byte {
	req, _ := http.NewRequest("GET", s.base+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.AddCookie(&http.Cookie{Name: "sessiond_session", Value: token})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.200s", path, resp.StatusCode, b)
	}
	return b
}

func (s *benchServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

func (s *benchServer) rssAnon() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "RssAnon:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

// cpuTime is the CPU time the server's process has used so far, user and
// system (fields 14 and 15 of /proc/PID/stat, in the kernel's USER_HZ
// ticks: 100 a second on Linux); 0 where there is no /proc.
func (s *benchServer) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command's name, in parentheses, may hold spaces: count from after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
}

type wrkResult struct {
	rps      float64
	requests float64 // completed in the run
	p50      string
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkN   = regexp.MustCompile(`(\d+) requests in`)
	wrkP50 = regexp.MustCompile(`\s50%\s+(\S+)`)
	wrkErr = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func formatRatios(r []float64) string {
	parts := make([]string, len(r))
	for i, x := range r {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, "/")
}

func wrk(t *testing.T, target string, args []string) wrkResult {
	out, err := exec.Command("wrk", append(args, target)...).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk %s: %v\n%s", target, err, out)
	}
	if m := wrkErr.FindSubmatch(out); m != nil {
		t.Errorf("wrk %s: %s non-2xx responses\n%s", target, m[1], out)
	}
	var r wrkResult
	if m := wrkRPS.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := wrkN.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := wrkP50.FindSubmatch(out); m != nil {
		r.p50 = string(m[1])
	}
	return r
}

func buildInto(t *testing.T, out, dir string) string {
	build := exec.Command("go", "build", "-o", out, ".")
	build.Dir = dir
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, b)
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func formatRPS(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, "/")
}

// logTable writes rows under the header in b as a table (the second
// column's title is what its rows name), logs it, and keeps a copy in
// .bench/file.
func logTable(t *testing.T, b *strings.Builder, second string, rows []benchRow, file string) {
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "db\t"+second+"\tfigure\tvalue\tnote")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.db, r.scenario, r.figure, r.value, r.note)
	}
	tw.Flush()
	t.Log(b.String())
	_ = os.WriteFile(filepath.Join("..", ".bench", file), []byte(b.String()), 0o644)
}

// openMigrated opens the database at dsn and brings its schema up to date.
func openMigrated(t *testing.T, dsn string) *models.DB {
	ctx := context.Background()
	db, err := models.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Migrate(ctx, db); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

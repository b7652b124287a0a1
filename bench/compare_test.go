package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sessiond/models"
)

// TestPeerComparison is the side-by-side run of `task bench`: sessiond
// with default settings beside the peers of bench/peers (alexedwards/scs
// and Fiber's session middleware on the same database, and a bare Fiber
// handler), in one run, on each database. It reports; it fails only when
// something does not run.
//
// Every server holds the same data set — 10,000 users and 200,000
// sessions, 180,000 of them live — and every request carries the cookie
// of a live session drawn at random, as many users coming back would.

const (
	cmpUsers    = 10_000
	cmpSessions = 200_000
	cmpLive     = 180_000
	cmpRounds   = 3
	cmpDuration = "5s"
	cmpWarmUp   = "15s" // per server, walking every live session: fills sessiond's cache and every database's pages
)

// A server under comparison and the route it is loaded on.
type cmpTarget struct {
	name, route string
	srv         *benchServer
	warm, lua   string // the warm-up's script and the rounds'
	rps         []float64
	cpu         []float64 // the server's CPU time per request, µs
}

func TestPeerComparison(t *testing.T) {
	root, dir := benchStart(t)
	bin := buildInto(t, filepath.Join(dir, "bin", "sessiond"), root)
	peers := buildInto(t, filepath.Join(dir, "bin", "peers"), filepath.Join(root, "bench", "peers"))
	// SESSIOND_BENCH_BASELINE=path/to/an/older/sessiond adds its rows: a
	// before/after in the same run.
	baseline := os.Getenv("SESSIOND_BENCH_BASELINE")

	dbs := map[string]func(name string) string{
		"sqlite": func(name string) string { return "sqlite:" + filepath.Join(dir, "cmp-"+name+".db") },
	}
	if benchPostgresURL(t) != "" {
		dbs["postgres"] = func(name string) string { return benchPostgresDB(t, "sessiond_bench_"+name) }
	}
	var rows []benchRow
	for _, db := range []string{"sqlite", "postgres"} {
		dsn := dbs[db]
		if dsn == nil || (os.Getenv("SESSIOND_BENCH_ONLY") != "" && os.Getenv("SESSIOND_BENCH_ONLY") != db) {
			continue
		}
		rows = append(rows, compareOn(t, db, dsn, dir, bin, peers, baseline)...)
	}
	v, _ := exec.Command(bin, "version").Output()
	printCmpTable(t, rows, strings.TrimSpace(string(v)))
}

// compareOn runs the comparison on one database; dsn names a database
// (or file) per server, so the peers' tables never meet sessiond's.
func compareOn(t *testing.T, db string, dsn func(name string) string, dir, bin, peers, baseline string) []benchRow {
	tokens := seedSessiond(t, dsn("cmp"))
	warm, me := cookieScripts(t, dir, "sessiond", "sessiond_session", tokens)
	var targets []*cmpTarget
	add := func(name, route string, srv *benchServer, warm, lua string) {
		targets = append(targets, &cmpTarget{name: name, route: route, srv: srv, warm: warm, lua: lua})
	}
	sessiond := startSessiond(t, bin, dsn("cmp"), dir, "sessiond")
	defer sessiond.stop()
	add("sessiond", "/api/me", sessiond, warm, me)
	add("sessiond", "/healthz", sessiond, warm, me)
	// The cache-off server and a baseline get their own copies of the
	// data: their reads and writes must not weigh on the database the
	// measured sessiond uses (sharing it, the same binary measured 4 µs a
	// request more than beside it on its own copy).
	seedSessiond(t, dsn("nocache"))
	noCache := startSessiond(t, bin, dsn("nocache"), dir, "sessiond-nocache", "SESSION_CACHE_TTL=0")
	defer noCache.stop()
	add("sessiond, cache off", "/api/me", noCache, warm, me)
	if baseline != "" {
		seedSessiond(t, dsn("baseline"))
		before := startSessiond(t, baseline, dsn("baseline"), dir, "sessiond-baseline")
		defer before.stop()
		add("sessiond baseline", "/api/me", before, warm, me)
		add("sessiond baseline", "/healthz", before, warm, me)
	}
	bare := startPeer(t, peers, "bare", "")
	defer bare.stop()
	add("bare Fiber", "/healthz", bare, warm, me)
	for _, p := range []struct{ kind, name, cookie string }{
		{"scs", "scs", "session"}, {"fiber", "Fiber session", "session_id"},
	} {
		tokens := seedPeer(t, peers, p.kind, dsn(p.kind), dir)
		srv := startPeer(t, peers, p.kind, dsn(p.kind))
		defer srv.stop()
		warm, lua := cookieScripts(t, dir, p.kind, p.cookie, tokens)
		add(p.name, "/api/me", srv, warm, lua)
	}

	for _, tg := range targets {
		if tg.route == "/api/me" {
			wrk(t, tg.srv.base+tg.route, cmpWrkArgs(cmpWarmUp, tg.warm))
		}
	}
	hits0, misses0 := cacheLookups(t, sessiond)
	for round := range cmpRounds {
		// Each round in another order, so no server always runs first
		// after the machine has been idle.
		for i := range targets {
			tg := targets[(i+round)%len(targets)]
			cpu0 := tg.srv.cpuTime()
			r := wrk(t, tg.srv.base+tg.route, cmpWrkArgs(cmpDuration, tg.lua))
			cpu := float64((tg.srv.cpuTime() - cpu0).Microseconds()) / max(r.requests, 1)
			tg.rps, tg.cpu = append(tg.rps, r.rps), append(tg.cpu, cpu)
			t.Logf("%s round %d: %s %s %.0f req/s, server CPU %.1f µs/request", db, round+1, tg.name, tg.route, r.rps, cpu)
		}
	}
	hits, misses := cacheLookups(t, sessiond)
	return cmpRows(db, targets, hits-hits0, misses-misses0)
}

// cmpWrkArgs: the load of the measurement, 64 connections on two
// threads.
func cmpWrkArgs(d, lua string) []string {
	return []string{"-t2", "-c64", "-d" + d, "-s", lua}
}

// startSessiond runs sessiond with its default settings (LOG_LEVEL=info
// included: its lines go to a file) and a metrics token, changed by env.
func startSessiond(t *testing.T, bin, dsn, dir, name string, env ...string) *benchServer {
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), "DATABASE_URL="+dsn, "LISTEN_ADDR="+addr, "METRICS_TOKEN=bench-metrics",
		"AUTH_SECRET=bench-secret-bench-secret-bench-secret-0123"), env...)
	logs, err := os.Create(filepath.Join(dir, "cmp-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	cmd.Stderr = logs
	return startServer(t, cmd, addr)
}

func startPeer(t *testing.T, peers, kind, dsn string) *benchServer {
	addr := freeAddr(t)
	cmd := exec.Command(peers, "serve", "-kind", kind, "-db", dsn, "-addr", addr)
	cmd.Stderr = os.Stderr
	return startServer(t, cmd, addr)
}

// seedPeer fills a peer's session table through `peers seed` and returns
// the live sessions' cookies.
func seedPeer(t *testing.T, peers, kind, dsn, dir string) []string {
	out := filepath.Join(dir, "cmp-"+kind+"-tokens.txt")
	seed := exec.Command(peers, "seed", "-kind", kind, "-db", dsn, "-sessions", strconv.Itoa(cmpSessions),
		"-live", strconv.Itoa(cmpLive), "-users", strconv.Itoa(cmpUsers), "-out", out)
	if b, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed %s: %v\n%s", kind, err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tokens []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		tokens = append(tokens, sc.Text())
	}
	if len(tokens) != cmpLive {
		t.Fatalf("seed %s: %d live tokens, want %d", kind, len(tokens), cmpLive)
	}
	return tokens
}

// seedSessiond empties sessiond's users and sessions and fills them with
// the comparison's data set. Live sessions were last seen at instants
// spread over the last touch interval (SESSION_TOUCH_INTERVAL, 5
// minutes), as under steady traffic: the run pays sessiond's last-seen
// writes at their steady rate (one per session per interval), not as a
// storm when every session falls due at once. None is due a sliding
// refresh (one a day); the peers never write on a read.
func seedSessiond(t *testing.T, dsn string) []string {
	ctx := context.Background()
	db := openMigrated(t, dsn)
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("seed: %v\n%.300s", err, q)
		}
	}
	exec("DELETE FROM sessions")
	exec("DELETE FROM users")
	now := time.Now().UTC()
	insertRows(cmpUsers, 1000, "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES ",
		"(?, ?, ?, 'user', 'x', ?, ?)", exec, func(i int) []any {
			return []any{i + 1, fmt.Sprintf("user%d@bench.example", i+1), fmt.Sprintf("Bench User %d", i+1), db.T(now), db.T(now)}
		})
	if db.Kind == models.Postgres {
		exec("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))")
	}
	tokens := make([]string, cmpLive)
	insertRows(cmpSessions, 500, "INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at, ip, user_agent) VALUES ",
		"(?, ?, ?, ?, ?, '192.0.2.1', 'Mozilla/5.0 (bench)')", exec, func(i int) []any {
			token := benchToken(i)
			seen := now.Add(-time.Duration(i%300) * time.Second)
			expires := seen.Add(30 * 24 * time.Hour)
			if i < cmpLive {
				tokens[i] = token
			} else {
				expires = now.Add(-time.Duration(i%43200+1) * time.Minute)
			}
			return []any{models.HashToken(token), i%cmpUsers + 1, db.T(expires), db.T(seen.Add(-time.Hour)), db.T(seen)}
		})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if db.Kind == models.Postgres {
		_, err = db.ExecContext(ctx, "VACUUM (ANALYZE) sessions")
	} else {
		_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// insertRows inserts n rows, per rows at a time, each of row's values.
func insertRows(n, per int, head, placeholders string, exec func(string, ...any), row func(i int) []any) {
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		var args []any
		q := head + strings.Repeat(placeholders+",", end-start-1) + placeholders
		for i := start; i < end; i++ {
			args = append(args, row(i)...)
		}
		exec(q, args...)
	}
}

// seedEachThread seeds each wrk thread's generator apart: unseeded, every
// thread and every run draws the same sequence, so a run after the
// warm-up would only ever ask for sessions the warm-up already cached.
const seedEachThread = `local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) math.randomseed(os.time() * 100 + id) end
`

// cookieScripts writes two wrk scripts for a server whose session cookie
// is cookie: one that walks through every live session in turn (the
// warm-up: every user has come by once, as in a day of traffic) and one
// that sends, per request, the cookie of a session drawn at random.
func cookieScripts(t *testing.T, dir, name, cookie string, tokens []string) (walk, random string) {
	var b strings.Builder
	b.WriteString("local t = {\n")
	for _, tok := range tokens {
		fmt.Fprintf(&b, "%q,\n", tok)
	}
	b.WriteString("}\n" + seedEachThread)
	tokensLua := b.String()
	walk, random = filepath.Join(dir, "cmp-"+name+"-walk.lua"), filepath.Join(dir, "cmp-"+name+".lua")
	// Two threads, each from its own half of the list.
	next := "local i = 0\nlocal function pick()\n  i = i + 1\n  return t[(i + (id - 1) * math.floor(#t / 2)) % #t + 1]\nend\n"
	for path, pick := range map[string]string{walk: next, random: "local function pick() return t[math.random(#t)] end\n"} {
		script := tokensLua + pick + fmt.Sprintf("request = function()\n  return wrk.format(nil, nil, {Cookie = %q .. pick(), Accept = \"application/json\"})\nend\n", cookie+"=")
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return walk, random
}

var cacheLookupLine = regexp.MustCompile(`(?m)^sessiond_session_cache_lookups_total\{result="(\w+)"\} (\S+)$`)

// cacheLookups reads the session cache's hit and miss counters.
func cacheLookups(t *testing.T, s *benchServer) (hits, misses float64) {
	req, _ := http.NewRequest("GET", s.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer bench-metrics")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, m := range cacheLookupLine.FindAllSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		switch string(m[1]) {
		case "hit":
			hits = v
		case "miss":
			misses = v
		}
	}
	return hits, misses
}

// cmpRows: each target's median req/s, then the ratios the goals are
// stated in, each the median of its per-round ratios.
func cmpRows(db string, targets []*cmpTarget, hits, misses float64) []benchRow {
	find := func(name, route string) *cmpTarget {
		for _, tg := range targets {
			if tg.name == name && tg.route == route {
				return tg
			}
		}
		return nil
	}
	var rows []benchRow
	var best *cmpTarget
	for _, tg := range targets {
		rows = append(rows, benchRow{db, tg.name, tg.route + " req/s", fmt.Sprintf("%.0f", median(tg.rps)),
			fmt.Sprintf("rounds %s; server CPU %.1f µs/request", formatRPS(tg.rps), median(tg.cpu))})
		if (tg.name == "scs" || tg.name == "Fiber session") && (best == nil || median(tg.rps) > median(best.rps)) {
			best = tg
		}
	}
	ratio := func(scenario, figure string, a, b *cmpTarget, goal string) {
		if a == nil || b == nil {
			return
		}
		rs := make([]float64, len(a.rps))
		for i := range rs {
			rs[i] = a.rps[i] / b.rps[i]
		}
		rows = append(rows, benchRow{db, scenario, figure, fmt.Sprintf("%.2f×", median(rs)), "per round " + formatRatios(rs) + "; " + goal})
	}
	for _, name := range []string{"sessiond", "sessiond baseline"} {
		me, health := find(name, "/api/me"), find(name, "/healthz")
		ratio(name, "/api/me ÷ best peer ("+best.name+")", me, best, "goal ≥ 3×")
		ratio(name, "/api/me ÷ own /healthz", me, health, "goal ≥ 0.8×")
		ratio(name, "/healthz ÷ bare Fiber", health, find("bare Fiber", "/healthz"), "goal ≥ 0.8×")
	}
	if hits+misses > 0 {
		rows = append(rows, benchRow{db, "sessiond", "cache hit rate", fmt.Sprintf("%.1f%%", 100*hits/(hits+misses)),
			fmt.Sprintf("%.0f hits, %.0f misses in the measured rounds", hits, misses)})
	}
	return rows
}

func printCmpTable(t *testing.T, rows []benchRow, version string) {
	var b strings.Builder
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "\nsessiond %s beside its peers; load average at end %s\n", version, strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(&b, "settings: wrk -t2 -c64 -d%s, %d rounds in rotating order after a %s warm-up of each /api/me; "+
		"a random cookie of %d live sessions (of %d, %d users) per request; sessiond with default settings (LOG_LEVEL=info); "+
		"server CPU: the server process's user and system time in a round over the requests it answered\n\n",
		cmpDuration, cmpRounds, cmpWarmUp, cmpLive, cmpSessions, cmpUsers)
	logTable(t, &b, "server", rows, "compare.txt")
}

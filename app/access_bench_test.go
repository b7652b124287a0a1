package app

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// fiftyRules is a rules file of 50 rules in the forms people write (exact
// and wildcard hosts, globs, regular expressions, methods, groups), none of
// which matches app50.example.test/dashboard but the last: verify checks
// every rule, the worst case.
func fiftyRules() string {
	var b strings.Builder
	b.WriteString("default: deny\nrules:\n")
	for i := range 49 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "  - hosts: [app%d.example.test]\n    policy: bypass\n", i)
		case 1:
			fmt.Fprintf(&b, "  - hosts: [\"*.team%d.example.test\"]\n    groups: [team%d]\n", i, i)
		case 2:
			fmt.Fprintf(&b, "  - paths: [\"/admin%d/*\"]\n    methods: [POST, DELETE]\n    roles: [admin]\n", i)
		case 3:
			fmt.Fprintf(&b, "  - paths: [\"^/api/v[0-9]+/svc%d\"]\n    rate: 100/min\n", i)
		case 4:
			fmt.Fprintf(&b, "  - hosts: [\"*.example.test\"]\n    paths: [\"/reports%d/*/q*\"]\n    mfa: true\n", i)
		}
	}
	b.WriteString("  - hosts: [app50.example.test]\n")
	return b.String()
}

// BenchmarkAccessRules_Decide50 is the rule match of one verify against 50
// rules (all checked). It reports p50 and p99 over batches of 64 decisions
// (per decision), since one decision is shorter than the clock's resolution
// is useful for.
func BenchmarkAccessRules_Decide50(b *testing.B) {
	rs, err := parseAccessRules([]byte(fiftyRules()))
	if err != nil {
		b.Fatal(err)
	}
	t, _ := newAccessTarget("app50.example.test", "/dashboard/x", "GET")
	v := visitor{SignedIn: true, Email: "u@example.com", Role: "user", Groups: "dev,ops"}
	if r, got := rs.decide(t, v); got != verdictAllow || r != rs.Rules[49] {
		b.Fatalf("the last rule should decide: %v %v", r, got)
	}
	const batch = 64
	var per []float64
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		start := time.Now()
		for range batch {
			rs.decide(t, v)
		}
		per = append(per, float64(time.Since(start).Nanoseconds())/batch)
	}
	b.StopTimer()
	slices.Sort(per)
	b.ReportMetric(per[len(per)/2], "p50-ns/decide")
	b.ReportMetric(per[len(per)*99/100], "p99-ns/decide")
}

// TestBench_VerifyWithFiftyRules reports /auth/verify requests/s with no
// rules and with 50 (every one checked), in one run: two servers on one
// database, measured in turn, the first again at the end. It only reports:
//
//	SESSIOND_BENCH=1 go test ./app -run TestBench_VerifyWithFiftyRules -v -count=1
func TestBench_VerifyWithFiftyRules(t *testing.T) {
	if os.Getenv("SESSIOND_BENCH") != "1" {
		t.Skip("load figures: set SESSIOND_BENCH=1")
	}
	wrk := requireBinary(t, "wrk")
	duration := os.Getenv("SESSIOND_BENCH_DURATION")
	if duration == "" {
		duration = "10s"
	}
	db := testdb.SQLite(t)
	env := map[string]string{"LOG_LEVEL": "warn", "TRUSTED_PROXIES": "127.0.0.1"}
	plain, plainBase := liveServer(t, db, env)
	env["ACCESS_RULES"] = writeRules(t, fiftyRules())
	_, rulesBase := liveServer(t, db, env)
	u := testdb.CreateUser(t, db, "bench-rules@example.com", models.RoleUser)
	c := plain.client()
	c.login(u.Email, "password123")
	cookie := "Cookie: " + plain.srv.cfg.CookieName() + "=" + c.cookie()
	run := func(name, base string) {
		out, err := exec.Command(wrk, "-t2", "-c32", "-d"+duration, "--latency", "-H", cookie,
			"-H", "X-Original-URL: http://app50.example.test/dashboard/x", base+"/auth/verify").CombinedOutput()
		if err != nil || strings.Contains(string(out), "Non-2xx") {
			t.Fatalf("wrk %s: %v\n%s", name, err, out)
		}
		t.Logf("%-28s %s req/s  p50 %s  p99 %s", name, wrkField(out, `Requests/sec:\s+(\S+)`),
			wrkField(out, `\n\s+50%\s+(\S+)`), wrkField(out, `\n\s+99%\s+(\S+)`))
	}
	run("verify, no rules", plainBase)
	run("verify, 50 rules", rulesBase)
	run("verify, no rules (again)", plainBase)
	run("verify, 50 rules (again)", rulesBase)
}

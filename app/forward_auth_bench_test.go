package app

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestBench_ForwardAuthThroughNginx reports requests/s through nginx to the
// echo upstream without and with auth_request (same run, same nginx), and
// of /auth/verify alone, on SQLite and PostgreSQL. It only reports: run it
// with SESSIOND_BENCH=1 (wrk and nginx installed), e.g.
//
//	SESSIOND_BENCH=1 go test ./app -run TestBench_ForwardAuth -v -count=1
func TestBench_ForwardAuthThroughNginx(t *testing.T) {
	if os.Getenv("SESSIOND_BENCH") != "1" {
		t.Skip("load figures: set SESSIOND_BENCH=1")
	}
	wrk := requireBinary(t, "wrk")
	duration := os.Getenv("SESSIOND_BENCH_DURATION")
	if duration == "" {
		duration = "10s"
	}
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, base := liveServer(t, db, map[string]string{"LOG_LEVEL": "warn"})
		up := newEchoUpstream(t)
		sessiondAddr := strings.TrimPrefix(base, "http://")
		listen := "127.0.0.1:" + freePort(t)
		startNginx(t, listen, sessiondAddr, up.Listener.Addr().String())
		proxy := "http://" + listen
		c, _ := a.signIn("bench@example.com", models.RoleUser)
		cookie := "Cookie: " + a.srv.cfg.CookieName() + "=" + c.cookie()

		run := func(name, url string, headers ...string) {
			args := []string{"-t2", "-c32", "-d" + duration, "--latency"}
			for _, h := range headers {
				args = append(args, "-H", h)
			}
			out, err := exec.Command(wrk, append(args, url)...).CombinedOutput()
			if err != nil {
				t.Fatalf("wrk %s: %v\n%s", name, err, out)
			}
			if strings.Contains(string(out), "Non-2xx") {
				t.Fatalf("wrk %s: non-2xx answers:\n%s", name, out)
			}
			t.Logf("%-40s %s req/s  p50 %s  p99 %s", name, wrkField(out, `Requests/sec:\s+(\S+)`),
				wrkField(out, `\n\s+50%\s+(\S+)`), wrkField(out, `\n\s+99%\s+(\S+)`))
		}
		run("nginx → upstream, no auth", proxy+"/open/x")
		run("nginx → auth_request → upstream", proxy+"/x", cookie, "Host: app1."+e2eDomain) // the README's app block
		// nginx reuses its connections to sessiond only when the answers
		// have no body: a socket count near the request count means it did not.
		if _, err := exec.LookPath("ss"); err == nil {
			out, _ := exec.Command("sh", "-c", "ss -tan | grep -c "+sessiondAddr).CombinedOutput()
			t.Logf("sockets to sessiond after the auth_request run: %s", strings.TrimSpace(string(out)))
		}
		run("nginx → upstream, no auth (again)", proxy+"/open/x")
		run("/auth/verify alone (nginx mode)", base+"/auth/verify", cookie, "X-Original-URL: http://app.example.test/x")
		m := a.srv.Sessions()
		t.Logf("session writes during the run: extend %d, touch %d", m.ExtendWrites.Load(), m.TouchWrites.Load())
	})
}

func wrkField(out []byte, pattern string) string {
	if m := regexp.MustCompile(pattern).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return "?"
}

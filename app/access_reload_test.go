package app

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sessiond/models/testdb"
)

// The real binary (this test binary as `serve`, wired to signals as main
// is): SIGHUP reads ACCESS_RULES again; a file with a mistake keeps the
// rules in force and the log says which line is wrong.
func TestServe_SIGHUPReloadsAccessRules_BadFileKeepsTheOldOnes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process; skipped in -short mode")
	}
	addr := "127.0.0.1:" + freePort(t)
	rules := writeRules(t, "default: bypass\n")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SESSIOND_SERVE_HELPER=1", "LISTEN_ADDR="+addr,
		"DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "rules.db"), "CLEANUP_SCHEDULE=off", "LOG_LEVEL=info",
		"ACCESS_RULES="+rules, "TRUSTED_PROXIES=127.0.0.1", "AUTH_SECRET=rules-test-secret-rules-test-secret-0123")
	var stderr testdb.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	verify := func() int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/auth/verify", nil)
		req.Header.Set("X-Forwarded-Host", "app.example.com")
		req.Header.Set("X-Forwarded-Uri", "/")
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s after 15 s:\n%s", what, stderr.String())
			}
		}
	}
	status := func(want int) func() bool { return func() bool { return verify() == want } }
	rewrite := func(yaml string) {
		if err := os.WriteFile(rules, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Process.Signal(syscall.SIGHUP)
	}

	waitFor("a bypass from the rules at start", status(http.StatusOK))
	rewrite("default: deny\n")
	waitFor("the reload", func() bool { return strings.Contains(stderr.String(), "access rules reloaded") })
	if got := verify(); got != http.StatusForbidden {
		t.Fatalf("after reloading default: deny, verify says %d", got)
	}
	rewrite("default: deny\nrules:\n  - paths: [\"^/(\"]\n")
	waitFor("the refusal", func() bool { return strings.Contains(stderr.String(), "access rules kept as it was") })
	log := stderr.String()
	if !strings.Contains(log, "line 3: paths: broken regular expression") || !strings.Contains(log, "stay in force") {
		t.Fatalf("the log does not say why:\n%s", log)
	}
	if got := verify(); got != http.StatusForbidden {
		t.Fatalf("after a refused reload verify says %d, want the old rules' 403", got)
	}
}

func TestReload_AccessRules_InProcess_NewRulesApply_BrokenFileChangesNothing(t *testing.T) {
	db := testdb.SQLite(t)
	env := rulesEnv(t, "default: bypass\n")
	a := newTestApp(t, db, env)
	anon := a.client()
	h := verifyHeaders(t, "api", "GET", "https://app.example.com/")
	if resp := anon.verify("", h); resp.StatusCode != http.StatusOK {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	getenv := func(k string) string { return env[k] }
	if err := os.WriteFile(env["ACCESS_RULES"], []byte("default: signed_in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Reload(context.Background(), getenv); err != nil {
		t.Fatal(err)
	}
	if resp := anon.verify("", h); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the reload: %d", resp.StatusCode)
	}
	if err := os.WriteFile(env["ACCESS_RULES"], []byte("default: bypass\nrules: [{rate: 5/fortnight}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.Reload(context.Background(), getenv); err == nil || !strings.Contains(err.Error(), "line 2: rate") {
		t.Fatalf("broken file: %v", err)
	}
	if resp := anon.verify("", h); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a refused reload: %d, want the rules in force (401)", resp.StatusCode)
	}
}

func TestDoctor_AccessRules_GoodFileCounted_BadFileAnErrorWithItsLine(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testdb.SQLiteURL(t), "TRUSTED_PROXIES": "127.0.0.1",
		"ACCESS_RULES": writeRules(t, "default: deny\nrules:\n  - hosts: [a.example.com]\n")}
	if out, err := runCLI(t, env, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	if out, err := runCLI(t, env, "", "doctor"); err != nil || !strings.Contains(out, "ok    ACCESS_RULES: 1 rule(s), default deny") {
		t.Fatalf("good file: %v\n%s", err, out)
	}
	env["ACCESS_RULES"] = writeRules(t, "default: deny\nrules:\n  - hosts: [a.example.com]\n    policy: alow\n")
	out, err := runCLI(t, env, "", "doctor")
	if err == nil || !strings.Contains(out, `error line 4: unknown policy "alow"`) {
		t.Fatalf("bad file: %v\n%s", err, out)
	}
	delete(env, "TRUSTED_PROXIES")
	if out, err := runCLI(t, env, "", "doctor"); err == nil || !strings.Contains(out, "ACCESS_RULES needs TRUSTED_PROXIES") {
		t.Fatalf("rules without a trusted proxy: %v\n%s", err, out)
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The systemd unit in the README, as a reader would copy it, is one
// systemd accepts (systemd-analyze verify says nothing) and has what
// running sessiond as a service needs.
func TestREADME_SystemdUnit_VerifiesWithSystemdAnalyze(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var unit string
	for _, m := range regexp.MustCompile("(?s)```ini\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], "[Service]") {
			if unit != "" {
				t.Fatal("README.md has two systemd units; the test knows which to check only with one")
			}
			unit = m[1]
		}
	}
	if unit == "" {
		t.Fatal("README.md has no ```ini block with a [Service] section")
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/sessiond serve", "DynamicUser=yes", "StateDirectory=sessiond", "ProtectSystem=strict",
		"NoNewPrivileges=yes", "Restart=on-failure", "EnvironmentFile=/etc/sessiond/sessiond.env", "ExecReload=/bin/kill -HUP $MAINPID",
		"DATABASE_URL=sqlite:/var/lib/sessiond/sessiond.db",
	} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("SESSIOND_REQUIRE_SYSTEMD") == "1" {
			t.Fatal("systemd-analyze is not installed (apt-get install systemd)")
		}
		t.Skip("systemd-analyze is not installed; set SESSIOND_REQUIRE_SYSTEMD=1 to fail instead")
	}
	// verify checks that ExecStart is executable: point it at a file that is.
	dir := t.TempDir()
	bin := filepath.Join(dir, "sessiond")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sessiond.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/sessiond", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		// verify exits 0 on unknown keys and bad values; it only prints them.
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

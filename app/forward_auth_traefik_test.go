package app

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startTraefik runs Traefik with the README's dynamic configuration (the
// file provider) on listen: its example.com names become the test domain,
// its addresses the test's, and its cookie the name sessiond uses over
// plain http. Traefik is not in Debian: CI builds it from its Go module
// (see .ci/run) and puts it on PATH.
func startTraefik(t testing.TB, listen, sessiondAddr, upstreamAddr string) {
	bin := requireBinary(t, "traefik")
	dir := t.TempDir()
	conf := substitute(t, readmeSnippet(t, "yaml", "forwardAuth:"),
		"https://login.example.com/logout", "http://login.example.com:"+portOf(listen)+"/logout",
		"example.com", e2eDomain,
		"127.0.0.1:8080", sessiondAddr,
		"127.0.0.1:3000", upstreamAddr,
		"__Secure-sessiond_session", sessionCookie)
	file := filepath.Join(dir, "dynamic.yml")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, listen, filepath.Join(dir, "none"), []string{"HOME=" + dir}, bin,
		"--entryPoints.web.address="+listen, "--providers.file.filename="+file,
		"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false", "--log.level=ERROR")
	// Traefik listens before its file provider's routers are in place.
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+listen+"/healthz", nil)
		req.Host = "login." + e2eDomain
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Traefik did not route to sessiond within 15 s:\n%s", conf)
		}
	}
}

var traefikSetup = proxySetup{domain: e2eDomain, start: startTraefik, passesCookie: true}

func TestProxy_Traefik_READMEConfig_SignInRoundTripHeadersAndRevoke(t *testing.T) {
	proxyJourney(t, traefikSetup)
}

func TestProxy_Traefik_AccessRules_BypassGroupRateSecondFactorAndSignOutAtTheClient(t *testing.T) {
	proxyRules(t, traefikSetup)
}

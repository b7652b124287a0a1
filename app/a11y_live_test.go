package app

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// axeSource is axe-core from npm (`npm pack axe-core@4.11.0`, axe.min.js,
// sha256 e9e5863c…6d01), used only by tests: pages never load it.
//
//go:embed testdata/axe.min.js
var axeSource string

// axeViolation is one failed rule on a page, as axe reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeScan runs axe-core in the current page (WCAG 2.x A/AA, best
// practices, and the label-in-name rule voice control depends on).
// Injected through the DevTools protocol, so the page's CSP stays strict.
func axeScan(out *[]axeViolation) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := chromedp.Evaluate(axeSource+";0", nil).Do(ctx); err != nil {
			return fmt.Errorf("load axe: %w", err)
		}
		var raw string
		run := `axe.run(document, {resultTypes: ['violations'], rules: {'label-content-name-mismatch': {enabled: true}}})
			.then(r => JSON.stringify(r.violations))`
		err := chromedp.Evaluate(run, &raw, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}).Do(ctx)
		if err != nil {
			return fmt.Errorf("run axe: %w", err)
		}
		return json.Unmarshal([]byte(raw), out)
	})
}

// colorScheme makes the page see prefers-color-scheme: scheme.
func colorScheme(scheme string) chromedp.Action {
	return emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}})
}

// seriousOnes keeps the violations that fail the scan.
func seriousOnes(vs []axeViolation) []string {
	var out []string
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			where := ""
			for i, n := range v.Nodes {
				if i == 3 {
					where += fmt.Sprintf(" …and %d more", len(v.Nodes)-3)
					break
				}
				where += fmt.Sprintf(" %v (%s)", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
			}
			out = append(out, fmt.Sprintf("%s [%s] %s:%s", v.ID, v.Impact, v.Help, where))
		}
	}
	return out
}

func TestBrowser_Axe_EveryPage_NoSeriousViolations_LightAndDark(t *testing.T) {
	db := testdb.SQLite(t)
	a, base := liveServer(t, db, nil)
	admin := testdb.CreateUser(t, db, "axe-admin@example.com", models.RoleAdmin)
	user := testdb.CreateUser(t, db, "axe-user@example.com", models.RoleUser)
	m := a.srv.Sessions()
	now := a.clock.Now()
	var one *models.Session
	for i := range 6 {
		tok, _ := models.NewToken()
		s, err := m.CreateSession(context.Background(), tok, user.ID, now.Add(time.Duration(i-2)*time.Hour),
			models.Client{IP: fmt.Sprintf("198.51.100.%d", i+1), UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"})
		if err != nil {
			t.Fatal(err)
		}
		one = s
	}
	if _, err := a.srv.Sessions().CleanupExpiredSessions(context.Background()); err != nil {
		t.Fatal(err)
	}

	signedOut := []string{"/login", "/password/forgot", "/no-such-page"}
	userPages := []string{"/", "/account/sessions", "/account/password", "/account/security", "/account/alerts", "/account/tokens", "/admin/sessions"}
	adminPages := []string{"/admin/sessions", fmt.Sprintf("/admin/sessions/%d", one.ID), fmt.Sprintf("/admin/sessions?userId=%d&status=active", user.ID),
		"/admin/users", "/admin/audit", "/admin/audit?kind=bogus", "/admin/cleanup", "/admin/insights", "/admin/mail", "/admin/tokens", "/no-such-page"}

	var failures []string
	scan := func(ctx context.Context, who string, pages []string) {
		for _, scheme := range []string{"light", "dark"} {
			for _, path := range pages {
				var vs []axeViolation
				err := chromedp.Run(ctx, colorScheme(scheme), chromedp.Navigate(base+path), chromedp.WaitReady(`main`, chromedp.ByQuery),
					waitJS(htmxIdle), axeScan(&vs))
				if err != nil {
					t.Fatalf("%s %s (%s): %v", who, path, scheme, err)
				}
				counts := map[string]int{}
				for _, v := range vs {
					counts[v.Impact] += len(v.Nodes)
				}
				t.Logf("axe %-5s %-6s %-45s violations=%d nodes=%v", scheme, who, path, len(vs), counts)
				for _, f := range seriousOnes(vs) {
					failures = append(failures, fmt.Sprintf("%s %s (%s): %s", who, path, scheme, f))
				}
			}
		}
	}
	scan(newBrowser(t), "anon", signedOut)
	userCtx := newBrowser(t)
	if err := chromedp.Run(userCtx, browserLogin(base, user.Email, "password123")); err != nil {
		t.Fatal(err)
	}
	scan(userCtx, "user", userPages)
	adminCtx := newBrowser(t)
	if err := chromedp.Run(adminCtx, browserLogin(base, admin.Email, "password123")); err != nil {
		t.Fatal(err)
	}
	scan(adminCtx, "admin", adminPages)
	if len(failures) > 0 {
		t.Fatalf("%d serious or critical axe violations:\n%s", len(failures), strings.Join(failures, "\n"))
	}
}

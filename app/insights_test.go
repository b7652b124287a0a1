package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestInsights_SignInsAndActiveSessionsPerDay_SVGWithTableFallback_TopUsers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		ctx := context.Background()
		a.clock.Set(time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC))
		admin := testdb.CreateUser(t, db, "in-admin@example.com", models.RoleAdmin)
		u := testdb.CreateUser(t, db, "in-user@example.com", models.RoleUser)
		today := time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)

		// Three days ago: two sign-ins of u whose sessions lasted 36 hours.
		a.clock.Set(today.AddDate(0, 0, -3).Add(8 * time.Hour))
		for i := 0; i < 2; i++ {
			tok, _ := models.NewToken()
			if _, err := a.srv.sessions.CreateSession(ctx, tok, u.ID, a.clock.Now().Add(36*time.Hour), models.Client{}); err != nil {
				t.Fatal(err)
			}
		}
		// 40 days ago: outside the window.
		a.clock.Set(today.AddDate(0, 0, -40))
		tok, _ := models.NewToken()
		a.srv.sessions.CreateSession(ctx, tok, u.ID, a.clock.Now().Add(time.Hour), models.Client{})
		// Today: the admin signs in (one live session), and a failed sign-in.
		a.clock.Set(today.Add(12 * time.Hour))
		c := a.client()
		c.login(admin.Email, "password123")
		a.client().signIn(u.Email, "bad-bad", "203.0.113.1", "x")

		resp := c.api("GET", "/admin/insights", nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("insights JSON: %d %s", resp.StatusCode, body)
		}
		var ins models.Insights
		if err := json.Unmarshal([]byte(body), &ins); err != nil {
			t.Fatal(err)
		}
		if len(ins.Days) != 30 || !ins.Days[29].Day.Equal(today) || !ins.Days[0].Day.Equal(today.AddDate(0, 0, -29)) {
			t.Fatalf("days: %d, %v … %v", len(ins.Days), ins.Days[0].Day, ins.Days[len(ins.Days)-1].Day)
		}
		want := map[int]models.DayFigure{
			26: {SignIns: 2, Active: 2}, // created that day
			27: {Active: 2},             // still live
			28: {Active: 0},             // expired at 20:00 the day before
			29: {SignIns: 1, Active: 1, Failures: 1},
		}
		for i, d := range ins.Days {
			w := want[i]
			if d.SignIns != w.SignIns || d.Active != w.Active || d.Failures != w.Failures {
				t.Fatalf("day %d (%s): %+v, want %+v", i, d.Day.Format(time.DateOnly), d, w)
			}
		}
		if len(ins.TopUsers) != 1 || ins.TopUsers[0].UserID != admin.ID || ins.TopUsers[0].Sessions != 1 {
			t.Fatalf("top users: %+v", ins.TopUsers)
		}

		// The fragment htmx swaps into the sessions page.
		resp = c.request("GET", "/admin/insights", nil, http.Header{"HX-Request": {"true"}})
		frag := readBody(t, resp)
		for _, s := range []string{`<svg`, `role="img"`, `aria-labelledby="signins-chart-title"`, `<title id="active-chart-title">`, `<table class="table">`, `<rect`, `<polyline`, "2026-06-27", admin.Email} {
			if !strings.Contains(frag, s) {
				t.Fatalf("fragment lacks %q: %.500s", s, frag)
			}
		}
		if !strings.HasPrefix(strings.TrimSpace(frag), `<section id="insights"`) || strings.Contains(frag, "<html") || strings.Contains(frag, "<script") {
			t.Fatalf("fragment: %.200s", frag)
		}
		_, page := c.page("/admin/insights")
		if !strings.Contains(page, "<html") || !strings.Contains(page, `<section id="insights"`) {
			t.Fatalf("full page: %.200s", page)
		}
	})
}

func TestBuildChart_EachMeasureOnItsOwnAxis_NeverOutsideThePlot(t *testing.T) {
	days := make([]models.DayFigure, 30)
	for i := range days {
		// Sign-ins in the tens beside 160k active sessions: both must show.
		days[i] = models.DayFigure{Day: time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC), SignIns: int64(i * 3), Active: int64(160_000 - i)}
	}
	v := buildChart(&models.Insights{Days: days})
	top := func(p chartPanel) string { return p.Ticks[len(p.Ticks)-1].Label }
	if len(v.SignIns.Bars) != 30 || top(v.SignIns) != "100" || top(v.Active) != "200k" {
		t.Fatalf("bars %d, top ticks %q and %q", len(v.SignIns.Bars), top(v.SignIns), top(v.Active))
	}
	tallest := 0.0
	for _, b := range v.SignIns.Bars {
		if b.Y < chartTop-0.1 || b.Y+b.H > chartBaseY+0.1 || b.X < chartLeft || b.X+b.W > chartW-chartRight+0.1 {
			t.Fatalf("bar outside the plot: %+v", b)
		}
		tallest = max(tallest, b.H)
	}
	if tallest < chartPlotH/2 {
		t.Fatalf("the tallest sign-in bar is %.1f of %d units high: lost beside the sessions", tallest, chartPlotH)
	}
	if n := strings.Count(v.Active.Line, ","); n != 30 {
		t.Fatalf("line has %d points", n)
	}
	empty := buildChart(&models.Insights{Days: make([]models.DayFigure, 30)})
	if top(empty.SignIns) != "4" {
		t.Fatalf("empty chart top tick %q", top(empty.SignIns))
	}
	for n, want := range map[int64]string{950: "950", 9500: "9,500", 95_000: "95k", 1_250_000: "1.25M"} {
		if got := compactNumber(n); got != want {
			t.Errorf("compactNumber(%d) = %q, want %q", n, got, want)
		}
	}
}

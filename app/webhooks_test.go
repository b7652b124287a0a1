package app

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// receiver is a webhook endpoint that checks every request the way the
// Standard Webhooks spec tells receivers to, independently of sessiond's
// signing code.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret string
	down   atomic.Bool // answer 503, as a receiver in an outage would
	mu     sync.Mutex
	got    []received // accepted deliveries
	tried  []string   // every webhook-id seen, accepted or not
}

type received struct {
	ID   string
	Type string
	At   time.Time
	Body []byte
}

func newReceiver(t testing.TB) *receiver {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	r := &receiver{t: t, secret: "whsec_" + base64.StdEncoding.EncodeToString(key)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, ts, sigs := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	r.mu.Lock()
	r.tried = append(r.tried, id)
	r.mu.Unlock()
	if r.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		r.t.Errorf("webhook %s: timestamp %q is not within 5 minutes", id, ts)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := false
	for _, s := range strings.Fields(sigs) {
		if v, sig, _ := strings.Cut(s, ","); v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			ok = true
		}
	}
	if !ok || id == "" {
		r.t.Errorf("webhook %q: signature %q does not verify", id, sigs)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p struct{ Type string }
	if err := json.Unmarshal(body, &p); err != nil || p.Type == "" {
		r.t.Errorf("webhook %s: body %s", id, body)
	}
	r.mu.Lock()
	r.got = append(r.got, received{ID: id, Type: p.Type, At: time.Now(), Body: body})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) attempts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tried...)
}

// addEndpoint registers r through the admin JSON API and waits until the
// events from before it (the admin's own sign-in) have been dispatched.
func addEndpoint(t *testing.T, a *testApp, admin *client, r *receiver, types ...string) {
	t.Helper()
	waitUntil(t, "an empty outbox", func() bool { return countRows(t, a.db, "event_outbox", "") == 0 })
	admin.page("/admin/webhooks")
	body, _ := json.Marshal(map[string]any{"url": r.srv.URL + "/hook", "events": types, "secret": r.secret})
	resp := admin.request("POST", "/admin/webhooks", bytes.NewReader(body), http.Header{
		"Accept": {"application/json"}, "Content-Type": {"application/json"}, "X-Csrf-Token": {admin.csrf}})
	if out := readBody(t, resp); resp.StatusCode != 201 {
		t.Fatalf("add endpoint: %d %s", resp.StatusCode, out)
	}
}

// failSignIns makes n signin.failed events.
func failSignIns(t *testing.T, a *testApp, n int, prefix string) {
	t.Helper()
	c := a.client()
	c.page("/login")
	for i := 0; i < n; i++ {
		resp := c.form("/login", url.Values{"email": {fmt.Sprintf("%s%d@example.test", prefix, i)}, "password": {"wrong-password"}})
		resp.Body.Close()
	}
}

// TestWebhooks_ReceiverDown_SessiondRestarted_EachDeliveredOnceSameID:
// deliveries that fail wait in the queue across a restart, then arrive
// once each, signed, under the id of their first attempt.
func TestWebhooks_ReceiverDown_SessiondRestarted_EachDeliveredOnceSameID(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		r := newReceiver(t)
		first := runApp(t, db, nil)
		testdb.CreateUser(t, db, "hook-admin@example.com", models.RoleAdmin)
		admin := first.app.client()
		admin.login("hook-admin@example.com", "password123")
		addEndpoint(t, first.app, admin, r, models.EventSignInFailed, models.EventUserCreated)
		r.down.Store(true)
		defer func() {
			if t.Failed() {
				ds, _ := models.RecentWebhookDeliveries(t.Context(), db, 100)
				t.Logf("deliveries %+v outbox %d endpoints %d", ds, countRows(t, db, "event_outbox", ""), countRows(t, db, "webhook_endpoints", ""))
				l := first.app.logs.String()
				t.Logf("logs:\n%s", l[max(0, len(l)-4000):])
			}
		}()
		const n = 5
		failSignIns(t, first.app, n-1, "nobody")
		resp := admin.api("POST", "/admin/users", url.Values{"email": {"hooked@example.com"}, "name": {"Hooked"}, "role": {"user"}, "password": {"long-enough-pw"}})
		if resp.StatusCode != 201 {
			t.Fatalf("create user: %d", resp.StatusCode)
		}
		waitUntil(t, "every first attempt to fail", func() bool {
			return countRows(t, db, "deliveries", "channel = 'webhook' AND status = ?", models.DeliveryRetrying) == n
		})
		firstIDs := map[string]bool{}
		for _, id := range r.attempts() {
			firstIDs[id] = true
		}
		first.stop()

		r.down.Store(false)
		second := runApp(t, testdb.Open(t, db.URL()), nil)
		second.app.clock.Advance(40 * time.Second) // the retries are due 30 s (± 10%) after the failures
		waitUntil(t, "every webhook delivered", func() bool { return len(r.all()) >= n })
		time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
		perID := map[string]int{}
		types := map[string]int{}
		for _, m := range r.all() {
			perID[m.ID]++
			types[m.Type]++
		}
		lost, doubled := 0, 0
		for id := range firstIDs {
			switch perID[id] {
			case 0:
				lost++
			case 1:
			default:
				doubled++
			}
		}
		t.Logf("outage and restart: %d webhooks, %d lost, %d doubled", n, lost, doubled)
		if len(firstIDs) != n || lost != 0 || doubled != 0 || len(perID) != n {
			t.Fatalf("%d first ids, %d delivered ids: %d lost, %d doubled", len(firstIDs), len(perID), lost, doubled)
		}
		if types[models.EventSignInFailed] != n-1 || types[models.EventUserCreated] != 1 {
			t.Errorf("types delivered: %v", types)
		}
		waitUntil(t, "deliveries recorded as sent", func() bool {
			return countRows(t, db, "deliveries", "channel = 'webhook' AND status = ? AND attempts = 2", models.DeliverySent) == n
		})
		var code, latency int64
		if err := db.NewSelect().Table("webhook_jobs").ColumnExpr("MIN(response_code), MAX(latency_ms)").Scan(t.Context(), &code, &latency); err != nil || code != 204 || latency < 0 {
			t.Errorf("delivery log: response %d latency %d %v", code, latency, err)
		}

		// Resend from the admin page: the same id and body arrive again.
		admin2 := second.app.client()
		admin2.login("hook-admin@example.com", "password123")
		admin2.page("/admin/webhooks")
		var d models.Delivery
		if err := db.NewSelect().Model(&d).Where("channel = 'webhook'").Order("id").Limit(1).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		before := len(r.all())
		resp = admin2.api("POST", "/admin/webhooks/deliveries/"+itoa(d.ID)+"/resend", nil)
		if resp.StatusCode != 202 {
			t.Fatalf("resend: %d %s", resp.StatusCode, readBody(t, resp))
		}
		waitUntil(t, "the resent webhook", func() bool { return len(r.all()) > before })
		got := r.all()
		if last := got[len(got)-1]; perID[last.ID] != 1 || !firstIDs[last.ID] {
			t.Errorf("resent under id %q, which was not an earlier delivery's", last.ID)
		}
		_, page := admin2.page("/admin/webhooks")
		if !strings.Contains(page, "204") || !strings.Contains(page, "Resend") {
			t.Errorf("delivery log page lacks the response code or resend button")
		}
	})
}

// TestWebhooks_TwoInstancesOnOnePostgres_OneDeliveryEach: both instances
// dispatch and work the queue; each event still arrives once.
func TestWebhooks_TwoInstancesOnOnePostgres_OneDeliveryEach(t *testing.T) {
	dbURL := testdb.PostgresURL(t)
	r := newReceiver(t)
	one := runApp(t, testdb.Open(t, dbURL), nil)
	two := runApp(t, testdb.Open(t, dbURL), nil)
	testdb.CreateUser(t, one.app.db, "twin-admin@example.com", models.RoleAdmin)
	admin := one.app.client()
	admin.login("twin-admin@example.com", "password123")
	addEndpoint(t, one.app, admin, r, models.EventSignInFailed)
	const n = 40
	var wg sync.WaitGroup
	for i, inst := range []running{one, two} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failSignIns(t, inst.app, n/2, fmt.Sprintf("twin%d-", i))
		}()
	}
	wg.Wait()
	waitUntil(t, "every webhook delivered", func() bool { return len(r.all()) >= n })
	time.Sleep(time.Second) // a duplicate would arrive now
	perID := map[string]int{}
	for _, m := range r.all() {
		perID[m.ID]++
	}
	doubled := 0
	for _, c := range perID {
		if c > 1 {
			doubled++
		}
	}
	t.Logf("two instances: %d events, %d distinct deliveries, %d doubled", n, len(perID), doubled)
	if len(perID) != n || doubled != 0 || len(r.all()) != n {
		t.Fatalf("%d deliveries of %d distinct ids for %d events", len(r.all()), len(perID), n)
	}
}

// TestWebhooks_BadInput_ClearErrorNothingStored: a URL that is not
// http(s), one that points at sessiond itself, unknown event types and a
// malformed secret are refused.
func TestWebhooks_BadInput_ClearErrorNothingStored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"LISTEN_ADDR": "127.0.0.1:8089"})
		testdb.CreateUser(t, db, "hook-bad@example.com", models.RoleAdmin)
		admin := a.client()
		admin.login("hook-bad@example.com", "password123")
		admin.page("/admin/webhooks")
		all := strings.Join(models.WebhookTypes, ",")
		for _, v := range []url.Values{
			{"url": {"ftp://example.com/hook"}, "events": {all}},
			{"url": {"javascript:alert(1)"}, "events": {all}},
			{"url": {"not a url"}, "events": {all}},
			{"url": {"http://user:pw@example.com/"}, "events": {all}},
			{"url": {""}, "events": {all}},
			{"url": {testBase + "/hook"}, "events": {all}},
			{"url": {"http://127.0.0.1:8089/hook"}, "events": {all}},
			{"url": {"http://localhost:8089/"}, "events": {all}},
			{"url": {"https://siem.example.com/"}, "events": {"session.exploded"}},
			{"url": {"https://siem.example.com/"}},
			{"url": {"https://siem.example.com/"}, "events": {all}, "secret": {"hunter2"}},
		} {
			resp := admin.api("POST", "/admin/webhooks", v)
			body := readBody(t, resp)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.Contains(body, `"error"`) {
				t.Errorf("%v: %d %s", v, resp.StatusCode, body)
			}
		}
		if n := countRows(t, db, "webhook_endpoints", ""); n != 0 {
			t.Errorf("%d endpoints stored from bad input", n)
		}
		for _, p := range []string{"/admin/webhooks/999", "/admin/webhooks/deliveries/999/resend"} {
			method := "DELETE"
			if strings.HasSuffix(p, "resend") {
				method = "POST"
			}
			if resp := admin.api(method, p, nil); resp.StatusCode != 404 {
				t.Errorf("%s %s: %d, want 404", method, p, resp.StatusCode)
			}
		}
		// A good one: the form shows the generated secret once.
		resp := admin.form("/admin/webhooks", url.Values{"url": {"https://siem.example.com/hook"}, "events": {models.EventSessionCreated, models.EventUserDeleted}})
		body := readBody(t, resp)
		if resp.StatusCode != 201 || !strings.Contains(body, "whsec_") {
			t.Errorf("form add: %d, secret shown %v", resp.StatusCode, strings.Contains(body, "whsec_"))
		}
		if _, body := admin.page("/admin/webhooks"); strings.Contains(body, `id="webhook-secret"`) {
			t.Error("the secret is shown again")
		}
		// Bearer tokens have no scope for webhooks.
		secret, _ := createToken(t, admin, "/admin/tokens", "all", models.Scopes, "")
		if resp := a.bearer(secret, "GET", "/admin/webhooks", ""); resp.StatusCode != 403 {
			t.Errorf("API token on /admin/webhooks: %d, want 403", resp.StatusCode)
		}
	})
}

// TestAuditLog_JSONLinesOnStdout: with AUDIT_LOG=json every audit event
// is also one JSON line.
func TestAuditLog_JSONLinesOnStdout(t *testing.T) {
	var out testdb.SyncBuffer
	db := testdb.SQLite(t)
	run := runApp(t, db, map[string]string{"AUDIT_LOG": "json"}, func(o *Options) { o.AuditLog = &out })
	testdb.CreateUser(t, db, "jsonl@example.com", models.RoleUser)
	c := run.app.client()
	c.login("jsonl@example.com", "password123")
	failSignIns(t, run.app, 1, "jsonl-ghost")
	waitUntil(t, "two JSON lines", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	kinds := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev models.AuditEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		kinds[ev.Kind] = true
	}
	if !kinds[models.EventSessionCreated] || !kinds[models.EventSignInFailed] {
		t.Errorf("kinds written: %v", kinds)
	}
	if _, err := LoadConfig(func(k string) string { return map[string]string{"AUDIT_LOG": "xml"}[k] }); err == nil {
		t.Error("AUDIT_LOG=xml accepted")
	}
}

// BenchmarkWebhookLatency writes 1,000 webhook events at about 100 a
// second and measures each from the moment its audit event is written to
// its arrival, signed, at a real HTTP receiver; it reports p50 and p99 in
// milliseconds and how many were lost or doubled. SQLite by default; set
// SESSIOND_BENCH_DB=postgres for PostgreSQL.
//
//	go test ./app -run '^$' -bench WebhookLatency -benchtime 1x
func BenchmarkWebhookLatency(b *testing.B) {
	db := testdb.SQLite(b)
	if getenvDefault("SESSIOND_BENCH_DB", "sqlite") == "postgres" {
		db = testdb.Postgres(b)
	}
	r := newReceiver(b)
	if _, err := models.CreateWebhookEndpoint(b.Context(), db, r.srv.URL, []string{models.EventSignInFailed}, r.secret, time.Now()); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	liveServerOn(b, ln, db, map[string]string{"LOG_LEVEL": "warn"}, func(o *Options) { o.Now = nil })
	const n = 1000
	for range b.N {
		before := len(r.all())
		written := make(map[int64]time.Time, n)
		tick := time.NewTicker(10 * time.Millisecond)
		for range n {
			<-tick.C
			ev := &models.Event{At: time.Now(), Kind: models.EventSignInFailed, IP: "192.0.2.1"}
			start := time.Now()
			if err := models.RecordEvent(b.Context(), db, ev); err != nil {
				b.Fatal(err)
			}
			written[ev.ID] = start
		}
		tick.Stop()
		deadline := time.Now().Add(2 * time.Minute)
		for len(r.all()) < before+n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
		seen := map[int64]int{}
		var lat []time.Duration
		for _, m := range r.all()[before:] {
			var p struct{ Data struct{ EventID int64 } }
			_ = json.Unmarshal(m.Body, &p)
			seen[p.Data.EventID]++
			if seen[p.Data.EventID] == 1 {
				lat = append(lat, m.At.Sub(written[p.Data.EventID]))
			}
		}
		lost, doubled := 0, 0
		for id := range written {
			switch seen[id] {
			case 0:
				lost++
			case 1:
			default:
				doubled++
			}
		}
		if len(lat) == 0 {
			b.Fatalf("nothing delivered (%d lost)", lost)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(doubled), "doubled")
	}
}

package app

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// running is a server started with Run, which the test can stop as
// SIGTERM would.
type running struct {
	app  *testApp
	stop func()
}

func runApp(t *testing.T, db *models.DB, env map[string]string, with ...func(*Options)) running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, db, env, with...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.srv.Run(ctx, ln) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("server did not stop")
		}
	}
	t.Cleanup(stop)
	return running{app: a, stop: stop}
}

func TestMail_SMTPDownThenBack_AcrossASessiondRestart_EachMessageArrivesOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		box := newMailbox(t)
		box.stop()
		env := mailEnv(box)
		first := runApp(t, db, env, box.clientTLS)
		const n = 6
		for i := 0; i < n; i++ {
			testdb.CreateUser(t, db, fmt.Sprintf("u%d@example.test", i), "user")
			c := first.app.client()
			c.page("/password/forgot")
			if resp := c.form("/password/forgot", url.Values{"email": {fmt.Sprintf("u%d@example.test", i)}}); resp.StatusCode != 200 {
				t.Fatalf("forgot %d: %d", i, resp.StatusCode)
			}
		}
		defer func() {
			if t.Failed() {
				ds, _ := models.RecentDeliveries(context.Background(), db, "", 100)
				for _, d := range ds {
					t.Logf("delivery %+v", d)
				}
				t.Logf("logs:\n%s", first.app.logs.String()[max(0, len(first.app.logs.String())-3000):])
			}
		}()
		waitUntil(t, "every first attempt to fail", func() bool {
			return countRows(t, db, "deliveries", "status = ?", models.DeliveryRetrying) == n
		})
		first.stop() // SIGTERM while every message waits for its retry

		box.start()
		second := runApp(t, testdb.Open(t, db.URL()), env, box.clientTLS)
		// The retries are due 30 s (± 10%) after the failures.
		second.app.clock.Advance(40 * time.Second)
		got := box.wait(n)
		time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
		got = box.all()
		perRecipient, ids := map[string]int{}, map[string]bool{}
		for _, m := range got {
			perRecipient[m.To]++
			ids[parseMail(t, m.Raw).MessageID] = true
		}
		lost, doubled := 0, 0
		for i := 0; i < n; i++ {
			switch c := perRecipient[fmt.Sprintf("u%d@example.test", i)]; {
			case c == 0:
				lost++
			case c > 1:
				doubled++
			}
		}
		t.Logf("outage and restart: %d messages, %d lost, %d doubled", n, lost, doubled)
		if lost != 0 || doubled != 0 || len(got) != n || len(ids) != n {
			t.Fatalf("%d messages (%d distinct ids): %d lost, %d doubled", len(got), len(ids), lost, doubled)
		}
		waitUntil(t, "deliveries recorded as sent", func() bool {
			return countRows(t, db, "deliveries", "status = ? AND attempts = 2", models.DeliverySent) == n
		})
	})
}

// BenchmarkMailDeliveryLatency measures the time from the event (an admin
// asks for a reset mail: the enqueuing transaction starts) to the message's
// arrival at a real SMTP server, one message at a time, 100 messages, and
// reports p50 and p99 in milliseconds. SQLite by default; set
// SESSIOND_BENCH_DB=postgres for PostgreSQL.
func BenchmarkMailDeliveryLatency(b *testing.B) {
	db := testdb.SQLite(b)
	if dbKind := getenvDefault("SESSIOND_BENCH_DB", "sqlite"); dbKind == "postgres" {
		db = testdb.Postgres(b)
	}
	box := newMailbox(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// The real clock: River paces its new-job notifications by it, and a
	// test clock that stands still would leave pickup to the 1 s poll.
	realClock := func(o *Options) { o.Now = nil }
	a, _ := liveServerOn(b, ln, db, mailEnv(box), box.clientTLS, realClock)
	users := make([]*models.User, 100)
	for i := range users {
		users[i] = testdb.CreateUser(b, db, fmt.Sprintf("lat%d@example.test", i), "user")
	}
	b.ResetTimer()
	for range b.N {
		before := len(box.all())
		lat := make([]time.Duration, 0, len(users))
		for i, u := range users {
			start := time.Now()
			if err := a.srv.queueResetLink(context.Background(), u, models.Audit{}); err != nil {
				b.Fatal(err)
			}
			m := box.wait(before + i + 1)[before+i]
			lat = append(lat, m.At.Sub(start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[49].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[98].Microseconds())/1000, "p99-ms")
	}
}

func getenvDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

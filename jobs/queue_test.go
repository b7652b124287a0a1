package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"sessiond/models"
	"sessiond/models/testdb"
)

// deliverArgs is a job whose work is writing a row: what a delivery does,
// minus the network.
type deliverArgs struct {
	N int `json:"n"`
}

func (deliverArgs) Kind() string { return "test_deliver" }

// deliverWorker records each successful attempt in queue_test_deliveries
// (through the database, as a real worker's bookkeeping does), after an
// optional pause and an optional number of failures per job.
type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	db    *models.DB
	pause time.Duration
	fails int // attempts that fail before one succeeds

	mu       sync.Mutex
	attempts map[int64]int
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	w.mu.Lock()
	if w.attempts == nil {
		w.attempts = map[int64]int{}
	}
	w.attempts[job.ID]++
	n := w.attempts[job.ID]
	w.mu.Unlock()
	if n <= w.fails {
		return errors.New("receiver down")
	}
	select {
	case <-time.After(w.pause):
	case <-ctx.Done():
		return ctx.Err()
	}
	_, err := w.db.ExecContext(ctx, "INSERT INTO queue_test_deliveries (job_id, n) VALUES (?, ?)", job.ID, job.Args.N)
	return err
}

func newDeliveryTable(t *testing.T, db *models.DB) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(),
		"CREATE TABLE queue_test_deliveries (job_id BIGINT NOT NULL, n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
}

func startQueue(t *testing.T, db *models.DB, w *deliverWorker, now func() time.Time) *Queue {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	q, err := NewQueue(context.Background(), db, slog.New(slog.NewTextHandler(io.Discard, nil)),
		QueueConfig{Workers: workers, Now: now, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	return q
}

// enqueue inserts n jobs, each in a transaction with a change (a setting
// row), as a real cause and its delivery are written.
func enqueue(t *testing.T, db *models.DB, q *Queue, from, n int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i++ {
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES (?, 'x')", fmt.Sprintf("queue_test_%d", i)); err != nil {
				return err
			}
			_, err := q.Enqueue(ctx, tx, deliverArgs{N: i})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// deliveries counts successful deliveries per n.
func deliveries(t *testing.T, db *models.DB) map[int]int {
	t.Helper()
	var ns []int
	if err := db.NewSelect().Table("queue_test_deliveries").Column("n").Scan(context.Background(), &ns); err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, n := range ns {
		out[n]++
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkExactlyOnce(t *testing.T, got map[int]int, want int) {
	t.Helper()
	lost, doubled := 0, 0
	for i := 0; i < want; i++ {
		switch c := got[i]; {
		case c == 0:
			lost++
		case c > 1:
			doubled++
		}
	}
	if lost != 0 || doubled != 0 || len(got) != want {
		t.Fatalf("%d jobs: %d lost, %d doubled, %d distinct delivered", want, lost, doubled, len(got))
	}
}

func TestQueue_RestartInTheMiddle_LosesNothingAndSendsNothingTwice(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		newDeliveryTable(t, db)
		const total = 40
		first := &deliverWorker{db: db, pause: 30 * time.Millisecond}
		q1 := startQueue(t, db, first, nil)
		enqueue(t, db, q1, 0, total)

		// A transaction that rolls back takes its job with it.
		err := db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := q1.Enqueue(ctx, tx, deliverArgs{N: 999}); err != nil {
				return err
			}
			return errors.New("the change failed")
		})
		if err == nil {
			t.Fatal("rolled-back transaction reported success")
		}

		waitFor(t, "some deliveries before the restart", func() bool { return len(deliveries(t, db)) >= 5 })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := q1.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		before := len(deliveries(t, db))
		if before >= total {
			t.Logf("all %d delivered before the restart (busy machine); the restart is still checked", total)
		}

		// Restarted process: it has its own connections to the same database.
		db2 := testdb.Open(t, db.URL())
		startQueue(t, db2, &deliverWorker{db: db2}, nil)
		waitFor(t, "every delivery after the restart", func() bool { return len(deliveries(t, db2)) >= total })
		time.Sleep(200 * time.Millisecond) // a second delivery of anything would land now
		got := deliveries(t, db2)
		if got[999] != 0 {
			t.Fatal("the job of a rolled-back transaction was delivered")
		}
		checkExactlyOnce(t, got, total)
	})
}

func TestQueue_TwoInstancesOnOnePostgres_DeliverEachJobOnce(t *testing.T) {
	url := testdb.PostgresURL(t)
	a, b := testdb.Open(t, url), testdb.Open(t, url)
	newDeliveryTable(t, a)
	qa := startQueue(t, a, &deliverWorker{db: a, pause: 5 * time.Millisecond}, nil)
	startQueue(t, b, &deliverWorker{db: b, pause: 5 * time.Millisecond}, nil)
	const total = 200
	enqueue(t, a, qa, 0, total)
	waitFor(t, "every delivery", func() bool { return len(deliveries(t, a)) >= total })
	time.Sleep(200 * time.Millisecond)
	checkExactlyOnce(t, deliveries(t, a), total)
}

func TestBackoff_DoublesFromThirtySecondsToAnHourForADay(t *testing.T) {
	b := Backoff{}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {7, 32 * time.Minute}, {8, time.Hour}, {30, time.Hour}} {
		if got := b.Delay(tc.n); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	var total time.Duration
	for n := 1; n < b.attempts(); n++ {
		total += b.Delay(n)
	}
	if total < 24*time.Hour || total > 25*time.Hour {
		t.Errorf("%d attempts span %v, want a day", b.attempts(), total)
	}
}

func TestQueue_FailedDelivery_IsRetriedOnTheBackoffSchedule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		newDeliveryTable(t, db)
		clk := testdb.NewClock()
		w := &deliverWorker{db: db, fails: 2}
		q := startQueue(t, db, w, clk.Now)
		enqueue(t, db, q, 0, 1)
		ctx := context.Background()
		job := func() *rivertype.JobRow {
			res, err := q.Client().JobList(ctx, river.NewJobListParams().Kinds("test_deliver"))
			if err != nil || len(res.Jobs) != 1 {
				t.Fatalf("list jobs: %v (%d)", err, len(res.Jobs))
			}
			return res.Jobs[0]
		}
		for n := 1; n <= 2; n++ {
			waitFor(t, "a failed attempt", func() bool { return job().State == rivertype.JobStateRetryable && len(job().Errors) == n })
			j := job()
			wait := j.ScheduledAt.Sub(clk.Now())
			want := Backoff{}.Delay(n)
			if wait < want*9/10-time.Millisecond || wait > want*11/10+time.Millisecond {
				t.Fatalf("after failure %d the retry is %v away, want %v ± 10%%", n, wait, want)
			}
			if len(deliveries(t, db)) != 0 {
				t.Fatal("delivered while failing")
			}
			clk.Advance(want * 11 / 10)
		}
		waitFor(t, "the third attempt's delivery", func() bool { return job().State == rivertype.JobStateCompleted })
		if j := job(); j.Attempt != 3 || len(deliveries(t, db)) != 1 {
			t.Fatalf("job %s after %d attempts, want completed after 3", j.State, j.Attempt)
		}
	})
}

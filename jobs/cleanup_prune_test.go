package jobs_test

import (
	"context"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// A cleanup keeps cleanup_runs and deliveries for the audit retention and
// drops links once they expire; what is recent, running or still being
// delivered stays.
func TestCleanup_PrunesOldRunsAndDeliveriesWithRetention_AndExpiredLinks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
		for _, at := range []time.Time{old, old, old, recent} {
			done := at.Add(time.Second)
			if _, err := db.NewInsert().Model(&models.CleanupRun{Trigger: "schedule", StartedAt: at, FinishedAt: &done, ProgressAt: &done}).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		u := testdb.CreateUser(t, db, "links@example.test", models.RoleUser)
		setStatus := func(row *models.Delivery, status string) {
			if _, err := db.NewUpdate().Table("deliveries").Set("status = ?", status).Where("id = ?", row.ID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for i, d := range []struct {
			at     time.Time
			status string
		}{{old, models.DeliverySent}, {old, models.DeliveryFailed}, {old, models.DeliveryRetrying}, {recent, models.DeliverySent}} {
			row := &models.Delivery{JobID: int64(1000 + i), Channel: "mail", Kind: "password_reset", Recipient: u.Email, CreatedAt: d.at}
			if err := models.CreateDelivery(ctx, db, row); err != nil {
				t.Fatal(err)
			}
			setStatus(row, d.status)
			if d.status == models.DeliverySent { // and a webhook, whose answer has a row of its own
				hook := &models.Delivery{JobID: int64(2000 + i), Channel: "webhook", Kind: "session.created", Recipient: "https://hooks.example.test/", CreatedAt: d.at}
				if err := models.CreateWebhookDelivery(ctx, db, hook, 1, `{}`); err != nil {
					t.Fatal(err)
				}
				setStatus(hook, d.status)
			}
		}
		for _, ttl := range []time.Duration{-time.Minute, time.Hour} {
			if _, err := models.MintUserToken(ctx, db, &models.UserToken{UserID: u.ID, Purpose: models.TokenNotMe}, ttl, now); err != nil {
				t.Fatal(err)
			}
		}
		// Without a retention only expired links go.
		res, err := runCleanup(ctx, db, now, cleanupOptions{Trigger: "schedule"})
		if err != nil || res.OtherPruned != 1 {
			t.Fatalf("pruned %d other rows (%v), want the one expired link", res.OtherPruned, err)
		}
		if _, err := runCleanup(ctx, db, now, cleanupOptions{Trigger: "schedule", Retention: 90 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		// A webhook's answer goes with its delivery: only the recent one's stays.
		for table, want := range map[string]int{"cleanup_runs": 1 + 2, "deliveries": 3, "user_tokens": 1, "webhook_jobs": 1} {
			if n, err := db.NewSelect().Table(table).Count(ctx); err != nil || int(n) != want {
				t.Errorf("%s: %d rows left (%v), want %d", table, n, err, want)
			}
		}
		var statuses []string
		if err := db.NewSelect().Table("deliveries").Column("status").Order("status").Scan(ctx, &statuses); err != nil {
			t.Fatal(err)
		}
		if len(statuses) != 3 || statuses[0] != models.DeliveryRetrying || statuses[1] != models.DeliverySent || statuses[2] != models.DeliverySent {
			t.Fatalf("deliveries left: %v, want the retrying one and the recent mail and webhook", statuses)
		}
		var jobs []int64
		if err := db.NewSelect().Table("webhook_jobs").Column("job_id").Scan(ctx, &jobs); err != nil || len(jobs) != 1 || jobs[0] != 2003 {
			t.Fatalf("webhook_jobs left: %v (%v), want the recent webhook's (2003)", jobs, err)
		}
	})
}

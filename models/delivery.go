package models

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Delivery statuses. A delivery is queued until its first attempt; then
// sent, logged (no mail server configured: the message went to the log),
// skipped (nothing to send, e.g. a reset asked for an unknown address),
// retrying after a failed attempt, or failed when the queue gave up.
const (
	DeliveryQueued   = "queued"
	DeliverySent     = "sent"
	DeliveryLogged   = "logged"
	DeliverySkipped  = "skipped"
	DeliveryRetrying = "retrying"
	DeliveryFailed   = "failed"
)

// Delivery is one message the queue delivers, as admins see it.
type Delivery struct {
	bun.BaseModel `bun:"table:deliveries"`

	ID          int64      `bun:"id,pk,autoincrement" json:"id"`
	JobID       int64      `bun:"job_id" json:"jobId"`
	Channel     string     `bun:"channel" json:"channel"`
	Kind        string     `bun:"kind" json:"kind"`
	Recipient   string     `bun:"recipient" json:"recipient"`
	UserID      *int64     `bun:"user_id" json:"userId"`
	Status      string     `bun:"status" json:"status"`
	Attempts    int        `bun:"attempts" json:"attempts"`
	LastError   string     `bun:"last_error" json:"lastError"`
	CreatedAt   time.Time  `bun:"created_at" json:"createdAt"`
	UpdatedAt   time.Time  `bun:"updated_at" json:"updatedAt"`
	DeliveredAt *time.Time `bun:"delivered_at" json:"deliveredAt"`
}

// CreateDelivery records a queued delivery; call it in the transaction
// that enqueues the job.
func CreateDelivery(ctx context.Context, db bun.IDB, d *Delivery) error {
	d.Status, d.UpdatedAt = DeliveryQueued, d.CreatedAt
	d.Recipient = clip(d.Recipient, 320)
	_, err := db.NewInsert().Model(d).Exec(ctx)
	return Wrap(err, "create delivery")
}

// RecordAttempt stores the outcome of an attempt at the job's delivery:
// status, how many attempts so far, and the error ("" on success).
func RecordAttempt(ctx context.Context, db bun.IDB, jobID int64, status string, attempts int, errText string, now time.Time) error {
	q := db.NewUpdate().Table("deliveries").
		Set("status = ?", status).Set("attempts = ?", attempts).
		Set("last_error = ?", clip(errText, 1000)).Set("updated_at = ?", now).
		Where("job_id = ?", jobID)
	if status == DeliverySent || status == DeliveryLogged {
		q = q.Set("delivered_at = ?", now)
	}
	_, err := q.Exec(ctx)
	return Wrap(err, "record delivery attempt")
}

// RecentDeliveries lists the newest deliveries of channel ("" for all),
// newest first.
func RecentDeliveries(ctx context.Context, db bun.IDB, channel string, limit int) ([]Delivery, error) {
	out := []Delivery{}
	q := db.NewSelect().Model(&out).Order("created_at DESC", "id DESC").Limit(int64(limit))
	if channel != "" {
		q = q.Where("channel = ?", channel)
	}
	err := q.Scan(ctx)
	return out, Wrap(err, "recent deliveries")
}

// FindDelivery returns the delivery of a job.
func FindDelivery(ctx context.Context, db bun.IDB, jobID int64) (*Delivery, error) {
	d := new(Delivery)
	err := db.NewSelect().Model(d).Where("job_id = ?", jobID).Scan(ctx)
	return d, Wrap(err, "find delivery")
}

// MailedSince reports whether a message of kind was queued for the user
// after since; x is db or a transaction on it.
func MailedSince(ctx context.Context, db *DB, x bun.IDB, userID int64, kind string, since time.Time) (bool, error) {
	ok, err := x.NewSelect().Model((*Delivery)(nil)).Where("user_id = ? AND kind = ? AND created_at > ?", userID, kind, db.T(since)).Exists(ctx)
	return ok, Wrap(err, "recent mail")
}

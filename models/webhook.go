package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// WebhookTypes are the event types webhooks deliver, in the order forms
// offer them. Each is an audit event kind, except cleanup.finished
// (cleanup.run in the audit trail).
var WebhookTypes = []string{
	EventSessionCreated, EventSessionRevoked, EventUserForceLogout, EventSignInFailed, EventSignInThrottled,
	EventUserCreated, EventUserDeleted, EventUserRoleChanged, WebhookCleanupFinished,
}

// WebhookCleanupFinished is the webhook type of a cleanup.run event.
const WebhookCleanupFinished = "cleanup.finished"

// WebhookType is the webhook type of an audit event kind, "" for kinds
// webhooks do not carry.
func WebhookType(kind string) string {
	if kind == EventCleanupRun {
		return WebhookCleanupFinished
	}
	if kind != WebhookCleanupFinished && slices.Contains(WebhookTypes, kind) {
		return kind
	}
	return ""
}

// WebhookEndpoint is where an admin asked for events to be posted.
type WebhookEndpoint struct {
	bun.BaseModel `bun:"table:webhook_endpoints"`

	ID        int64     `bun:"id,pk,autoincrement" json:"id"`
	URL       string    `bun:"url" json:"url"`
	Events    string    `bun:"events" json:"-"`
	Secret    string    `bun:"secret" json:"-"`
	CreatedAt time.Time `bun:"created_at" json:"createdAt"`
}

// EventList is the endpoint's event types.
func (e *WebhookEndpoint) EventList() []string { return strings.Split(e.Events, ",") }

// Wants reports whether the endpoint takes events of type t.
func (e *WebhookEndpoint) Wants(t string) bool { return slices.Contains(e.EventList(), t) }

// NewWebhookSecret is a Standard Webhooks secret: whsec_ and 24 random
// bytes in base64.
func NewWebhookSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// WebhookKey is the HMAC key of a secret: the bytes after whsec_.
func WebhookKey(secret string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
}

// CreateWebhookEndpoint validates and stores an endpoint. A blank secret
// gets a new one.
func CreateWebhookEndpoint(ctx context.Context, db bun.IDB, rawURL string, types []string, secret string, now time.Time) (*WebhookEndpoint, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	switch {
	case rawURL == "":
		return nil, Invalid("url", "is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(rawURL) > 2000:
		return nil, Invalid("url", "want an http:// or https:// URL without user info")
	}
	if len(types) == 0 {
		return nil, Invalid("events", "pick at least one of %s", strings.Join(WebhookTypes, ", "))
	}
	for _, t := range types {
		if !slices.Contains(WebhookTypes, t) {
			return nil, Invalid("events", "unknown event type %q (known: %s)", t, strings.Join(WebhookTypes, ", "))
		}
	}
	if secret == "" {
		if secret, err = NewWebhookSecret(); err != nil {
			return nil, err
		}
	} else if key, err := WebhookKey(secret); err != nil || !strings.HasPrefix(secret, "whsec_") || len(key) < 16 || len(key) > 64 {
		return nil, Invalid("secret", "want whsec_ and 16 to 64 bytes in base64, or leave it blank for a new one")
	}
	e := &WebhookEndpoint{URL: u.String(), Events: strings.Join(types, ","), Secret: secret, CreatedAt: now}
	if _, err := db.NewInsert().Model(e).Exec(ctx); err != nil {
		return nil, Wrap(err, "create webhook endpoint")
	}
	return e, nil
}

// ListWebhookEndpoints lists endpoints, oldest first.
func ListWebhookEndpoints(ctx context.Context, db bun.IDB) ([]WebhookEndpoint, error) {
	var out []WebhookEndpoint
	err := db.NewSelect().Model(&out).Order("id").Scan(ctx)
	return out, Wrap(err, "list webhook endpoints")
}

// FindWebhookEndpoint returns one endpoint.
func FindWebhookEndpoint(ctx context.Context, db bun.IDB, id int64) (*WebhookEndpoint, error) {
	e := new(WebhookEndpoint)
	err := db.NewSelect().Model(e).Where("id = ?", id).Scan(ctx)
	return e, Wrap(err, "find webhook endpoint")
}

// DeleteWebhookEndpoint removes an endpoint; its queued deliveries are
// then skipped.
func DeleteWebhookEndpoint(ctx context.Context, db bun.IDB, id int64) error {
	res, err := db.NewDelete().Model((*WebhookEndpoint)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return Wrap(err, "delete webhook endpoint")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// OutboxWaiting reports whether any event waits in the outbox.
func OutboxWaiting(ctx context.Context, db *DB) (bool, error) {
	ok, err := db.Read.NewSelect().Table("event_outbox").Exists(ctx)
	return ok, Wrap(err, "look at event outbox")
}

// TakeOutbox removes up to limit events from the outbox in tx and returns
// them, with the emails of their user and actor. On PostgreSQL rows
// another instance holds are skipped, so each event is taken once.
func TakeOutbox(ctx context.Context, db *DB, tx bun.Tx, limit int) ([]AuditEvent, error) {
	var ids []int64
	q := tx.NewSelect().Table("event_outbox").Column("event_id").Order("event_id").Limit(int64(limit))
	if db.Kind == Postgres {
		q = q.For("UPDATE SKIP LOCKED")
	}
	if err := q.Scan(ctx, &ids); err != nil {
		return nil, Wrap(err, "read event outbox")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := tx.NewDelete().Table("event_outbox").Where("event_id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
		return nil, Wrap(err, "take event outbox")
	}
	var out []AuditEvent
	err := tx.NewSelect().Model(&out).ModelTableExpr("session_events AS e").ColumnExpr("e.*").
		ColumnExpr("COALESCE(u.email, '') AS user_email").ColumnExpr("COALESCE(a.email, '') AS actor_email").
		Join("LEFT JOIN users AS u ON u.id = e.user_id").Join("LEFT JOIN users AS a ON a.id = e.actor_id").
		Where("e.id IN (?)", bun.In(ids)).OrderExpr("e.id").Scan(ctx)
	return out, Wrap(err, "read outbox events")
}

// WebhookDelivery is a webhook's delivery with what its receiver answered.
type WebhookDelivery struct {
	Delivery
	EndpointID   int64  `bun:"endpoint_id" json:"endpointId"`
	Args         string `bun:"args" json:"-"`
	ResponseCode *int   `bun:"response_code" json:"responseCode"`
	LatencyMS    *int64 `bun:"latency_ms" json:"latencyMs"`
}

// CreateWebhookDelivery records a queued webhook; call it in the
// transaction that enqueues the job.
func CreateWebhookDelivery(ctx context.Context, db bun.IDB, d *Delivery, endpointID int64, args string) error {
	if err := CreateDelivery(ctx, db, d); err != nil {
		return err
	}
	row := &struct {
		bun.BaseModel `bun:"table:webhook_jobs"`
		JobID         int64  `bun:"job_id"`
		EndpointID    int64  `bun:"endpoint_id"`
		Args          string `bun:"args"`
	}{JobID: d.JobID, EndpointID: endpointID, Args: args}
	_, err := db.NewInsert().Model(row).Exec(ctx)
	return Wrap(err, "create webhook delivery")
}

// RecentWebhookDeliveries lists the newest webhook deliveries first.
func RecentWebhookDeliveries(ctx context.Context, db bun.IDB, limit int) ([]WebhookDelivery, error) {
	out := []WebhookDelivery{}
	err := db.NewSelect().Model(&out).ModelTableExpr("deliveries AS delivery").ColumnExpr("delivery.*").
		ColumnExpr("w.endpoint_id, w.args, w.response_code, w.latency_ms").
		Join("JOIN webhook_jobs AS w ON w.job_id = delivery.job_id").
		OrderExpr("delivery.created_at DESC, delivery.id DESC").Limit(int64(limit)).Scan(ctx)
	return out, Wrap(err, "recent webhook deliveries")
}

// FindWebhookDelivery returns one webhook delivery by its id in the log.
func FindWebhookDelivery(ctx context.Context, db bun.IDB, id int64) (*WebhookDelivery, error) {
	d := new(WebhookDelivery)
	err := db.NewSelect().Model(d).ModelTableExpr("deliveries AS delivery").ColumnExpr("delivery.*").
		ColumnExpr("w.endpoint_id, w.args, w.response_code, w.latency_ms").
		Join("JOIN webhook_jobs AS w ON w.job_id = delivery.job_id").Where("delivery.id = ?", id).Scan(ctx)
	return d, Wrap(err, "find webhook delivery")
}

// RecordWebhookAttempt is RecordAttempt with what the receiver answered
// (code 0: no answer) and how long it took.
func RecordWebhookAttempt(ctx context.Context, db bun.IDB, jobID int64, status string, attempts int, errText string, code int, latency time.Duration, now time.Time) error {
	if err := RecordAttempt(ctx, db, jobID, status, attempts, errText, now); err != nil {
		return err
	}
	var c any
	if code != 0 {
		c = code
	}
	_, err := db.NewUpdate().Table("webhook_jobs").Set("response_code = ?", c).Set("latency_ms = ?", latency.Milliseconds()).
		Where("job_id = ?", jobID).Exec(ctx)
	return Wrap(err, "record webhook attempt")
}

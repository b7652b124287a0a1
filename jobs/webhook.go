package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"sessiond/models"
)

// WebhookArgs is one event for one endpoint. The payload is fixed when the
// event is dispatched, so every attempt (and a resend) posts the same body
// under the same id.
type WebhookArgs struct {
	EndpointID int64           `json:"endpointId"`
	MsgID      string          `json:"msgId"`
	Type       string          `json:"type"`
	Payload    json.RawMessage `json:"payload"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return "webhook" }

// EnqueueWebhook queues args in tx, with the delivery row admins see.
func (q *Queue) EnqueueWebhook(ctx context.Context, tx bun.Tx, args WebhookArgs, url string, now time.Time) error {
	id, err := q.Enqueue(ctx, tx, args)
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(args)
	return models.CreateWebhookDelivery(ctx, tx, &models.Delivery{JobID: id, Channel: "webhook", Kind: args.Type, Recipient: url, CreatedAt: now},
		args.EndpointID, string(raw))
}

// SignWebhook is the Standard Webhooks signature header value: v1 and the
// base64 HMAC-SHA256, under the secret's key, of "id.timestamp.body".
func SignWebhook(secret, id string, ts int64, body []byte) (string, error) {
	key, err := models.WebhookKey(secret)
	if err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// WebhookWorker posts a webhook and records the attempt. Any answer but
// 2xx is a failure the queue retries (Backoff: up to a day).
type WebhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	DB     *models.DB
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
}

// Work implements river.Worker.
func (w *WebhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	ep, err := models.FindWebhookEndpoint(ctx, w.DB, job.Args.EndpointID)
	if errors.Is(err, models.ErrNotFound) {
		w.record(ctx, job, models.DeliverySkipped, "the endpoint was removed", 0, 0)
		return nil
	}
	if err != nil {
		return err
	}
	ts := time.Now().Unix()
	sig, err := SignWebhook(ep.Secret, job.Args.MsgID, ts, job.Args.Payload)
	if err != nil {
		w.record(ctx, job, models.DeliveryFailed, err.Error(), 0, 0)
		return river.JobCancel(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(job.Args.Payload))
	if err != nil {
		w.record(ctx, job, models.DeliveryFailed, err.Error(), 0, 0)
		return river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sessiond-webhooks")
	req.Header.Set("webhook-id", job.Args.MsgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := w.Client.Do(req)
	took := time.Since(start)
	if err != nil {
		return w.failed(ctx, job, err, 0, took)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return w.failed(ctx, job, fmt.Errorf("the receiver answered %d", resp.StatusCode), resp.StatusCode, took)
	}
	w.record(ctx, job, models.DeliverySent, "", resp.StatusCode, took)
	return nil
}

func (w *WebhookWorker) failed(ctx context.Context, job *river.Job[WebhookArgs], err error, code int, took time.Duration) error {
	status := models.DeliveryRetrying
	if job.Attempt >= job.MaxAttempts {
		status = models.DeliveryFailed
	}
	w.Log.WarnContext(ctx, "webhook delivery failed", "type", job.Args.Type, "job_id", job.ID, "attempt", job.Attempt, "status", status, "error", err)
	w.record(ctx, job, status, err.Error(), code, took)
	return err
}

func (w *WebhookWorker) record(ctx context.Context, job *river.Job[WebhookArgs], status, errText string, code int, took time.Duration) {
	if err := models.RecordWebhookAttempt(ctx, w.DB, job.ID, status, job.Attempt, errText, code, took, w.Now().UTC()); err != nil {
		w.Log.WarnContext(ctx, "record webhook delivery", "job_id", job.ID, "error", err)
	}
}

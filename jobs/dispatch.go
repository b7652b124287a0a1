package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"sessiond/models"
)

// Dispatcher hands audit events on from the outbox the database fills: to
// the webhook endpoints that want them, as queued deliveries, and, with
// AuditLog set, as one JSON line each. Taking an event and queueing its
// deliveries is one transaction, so an event is queued once even with
// several instances on one database, and never lost to a crash.
type Dispatcher struct {
	DB       *models.DB
	Queue    *Queue
	Log      *slog.Logger
	AuditLog io.Writer // nil: no JSON lines
	Now      func() time.Time
	Every    time.Duration // how often to look; 100 ms when zero
}

// webhookPayload is the body of every webhook: the type, when it
// happened, and the audit event.
type webhookPayload struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	EventID      int64  `json:"eventId"`
	SessionID    *int64 `json:"sessionId"`
	UserID       *int64 `json:"userId"`
	UserEmail    string `json:"userEmail"`
	ActorID      *int64 `json:"actorId"`
	ActorTokenID *int64 `json:"actorTokenId"`
	IP           string `json:"ip"`
	UserAgent    string `json:"userAgent"`
	Detail       string `json:"detail"`
}

// Run dispatches until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(cmp.Or(d.Every, 100*time.Millisecond))
	defer t.Stop()
	for {
		for {
			n, err := d.Once(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.Log.WarnContext(ctx, "dispatch events", "error", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once dispatches one batch and says how many events it took.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	// A read first: an empty outbox, the usual case, costs no transaction
	// (on SQLite, none on the one writer connection).
	if waiting, err := models.OutboxWaiting(ctx, d.DB); err != nil || !waiting {
		return 0, err
	}
	var lines [][]byte
	n := 0
	err := d.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		events, err := models.TakeOutbox(ctx, d.DB, tx, 200)
		if err != nil || len(events) == 0 {
			return err
		}
		n = len(events)
		endpoints, err := models.ListWebhookEndpoints(ctx, tx)
		if err != nil {
			return err
		}
		for i := range events {
			ev := &events[i]
			if d.AuditLog != nil {
				line, _ := json.Marshal(ev)
				lines = append(lines, append(line, '\n'))
			}
			if err := d.queueWebhooks(ctx, tx, ev, endpoints); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, l := range lines {
		_, _ = d.AuditLog.Write(l)
	}
	return n, nil
}

func (d *Dispatcher) queueWebhooks(ctx context.Context, tx bun.Tx, ev *models.AuditEvent, endpoints []models.WebhookEndpoint) error {
	typ := models.WebhookType(ev.Kind)
	if typ == "" {
		return nil
	}
	var payload []byte
	for _, ep := range endpoints {
		if !ep.Wants(typ) {
			continue
		}
		if payload == nil {
			payload, _ = json.Marshal(webhookPayload{Type: typ, Timestamp: ev.At.UTC(), Data: webhookData{EventID: ev.ID,
				SessionID: ev.SessionID, UserID: ev.UserID, UserEmail: ev.UserEmail, ActorID: ev.ActorID, ActorTokenID: ev.ActorTokenID,
				IP: ev.IP, UserAgent: ev.UserAgent, Detail: ev.Detail}})
		}
		args := WebhookArgs{EndpointID: ep.ID, MsgID: fmt.Sprintf("msg_%d_%d", ev.ID, ep.ID), Type: typ, Payload: payload}
		if err := d.Queue.EnqueueWebhook(ctx, tx, args, ep.URL, d.Now().UTC()); err != nil {
			return err
		}
	}
	return nil
}

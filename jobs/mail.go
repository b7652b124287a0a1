package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"sessiond/models"
)

// MailArgs is one email to send. It names what to send and to whom, not
// the message itself: a link in it (a reset or verification token) is
// minted when the message is composed, so no usable token rests in the
// queue.
type MailArgs struct {
	Template  string `json:"template"` // e.g. password_reset; views/mail/<template>.*
	To        string `json:"to"`
	UserID    int64  `json:"userId,omitempty"`
	SessionID int64  `json:"sessionId,omitempty"`
}

// Kind implements river.JobArgs.
func (MailArgs) Kind() string { return "mail" }

// Message is one composed email.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
	Link    string // the message's action link: logged when no mail server is configured
}

// Composer turns a job into its message, minting any link it carries. It
// returns nil and no error when there is nothing to send (the user is
// gone, the address belongs to no one).
type Composer func(ctx context.Context, args MailArgs) (*Message, error)

// Sender hands a message to a mail server. id is the same on every
// attempt at one job, so a receiver can tell a repeat.
type Sender interface {
	Send(ctx context.Context, m *Message, id string) error
}

// EnqueueMail queues args in tx, with the delivery row admins see.
func (q *Queue) EnqueueMail(ctx context.Context, tx bun.Tx, args MailArgs, now time.Time) error {
	id, err := q.Enqueue(ctx, tx, args)
	if err != nil {
		return err
	}
	d := &models.Delivery{JobID: id, Channel: "mail", Kind: args.Template, Recipient: args.To, CreatedAt: now}
	if args.UserID != 0 {
		d.UserID = &args.UserID
	}
	return models.CreateDelivery(ctx, tx, d)
}

// MailWorker composes and sends queued mail, recording each attempt's
// outcome in deliveries. Without a Sender it logs the message and its
// link instead, so a self-hoster without a mail server can still act on it.
type MailWorker struct {
	river.WorkerDefaults[MailArgs]
	DB      *models.DB
	Compose Composer
	Sender  Sender // nil: no mail server configured
	Log     *slog.Logger
	Now     func() time.Time
}

// Work implements river.Worker.
func (w *MailWorker) Work(ctx context.Context, job *river.Job[MailArgs]) error {
	msg, err := w.Compose(ctx, job.Args)
	if err != nil {
		return w.failed(ctx, job, fmt.Errorf("compose: %w", err))
	}
	switch {
	case msg == nil:
		w.record(ctx, job, models.DeliverySkipped, "")
	case w.Sender == nil:
		w.Log.InfoContext(ctx, "mail not sent: SMTP_URL is not set", "to", msg.To, "subject", msg.Subject, "link", msg.Link, "job_id", job.ID)
		w.record(ctx, job, models.DeliveryLogged, "")
	default:
		if err := w.Sender.Send(ctx, msg, MessageID(job.ID)); err != nil {
			return w.failed(ctx, job, err)
		}
		w.Log.InfoContext(ctx, "mail sent", "template", job.Args.Template, "job_id", job.ID, "attempt", job.Attempt)
		w.record(ctx, job, models.DeliverySent, "")
	}
	// A failure to record after sending must not fail the job: a retry
	// would send the message twice.
	return nil
}

func (w *MailWorker) failed(ctx context.Context, job *river.Job[MailArgs], err error) error {
	status := models.DeliveryRetrying
	if job.Attempt >= job.MaxAttempts {
		status = models.DeliveryFailed
	}
	w.Log.WarnContext(ctx, "mail delivery failed", "template", job.Args.Template, "job_id", job.ID,
		"attempt", job.Attempt, "status", status, "error", err)
	w.record(ctx, job, status, err.Error())
	return err
}

func (w *MailWorker) record(ctx context.Context, job *river.Job[MailArgs], status, errText string) {
	if err := models.RecordAttempt(ctx, w.DB, job.ID, status, job.Attempt, errText, w.Now().UTC()); err != nil {
		w.Log.WarnContext(ctx, "record mail delivery", "job_id", job.ID, "error", err)
	}
}

// MessageID is the Message-ID of a job's mail: stable across attempts.
func MessageID(jobID int64) string { return fmt.Sprintf("sessiond-%d@sessiond.invalid", jobID) }

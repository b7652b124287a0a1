package app

import (
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"sessiond/jobs"
)

// queueWorkers is every kind of job this server delivers. Each worker lives
// in jobs/; the server hands it what it needs from the app.
func (s *Server) queueWorkers(opts Options) *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &jobs.MailWorker{DB: s.db, Compose: s.composeMail, Sender: s.mailSender(opts), Log: s.log, Now: s.sessions.Now})
	client := opts.WebhookClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	river.AddWorker(w, &jobs.WebhookWorker{DB: s.db, Client: client, Log: s.log, Now: s.sessions.Now})
	return w
}

package app

import (
	"bytes"
	"context"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/uptrace/bun"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/views"
)

// Mail templates (views/mail/<name>.txt and .gohtml).
const (
	mailPasswordReset = "password_reset"
)

// mailTemplates are the parsed views/mail templates: a plain-text and an
// HTML body per message.
type mailTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

func loadMailTemplates() (*mailTemplates, error) {
	text, err := texttemplate.ParseFS(views.MailFS, "mail/*.txt")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	html, err := htmltemplate.ParseFS(views.MailFS, "mail/*.gohtml")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	for _, t := range text.Templates() {
		name := strings.TrimSuffix(t.Name(), ".txt")
		if html.Lookup(name+".gohtml") == nil {
			return nil, fmt.Errorf("mail template %s: no .gohtml beside the .txt", name)
		}
	}
	return &mailTemplates{text: text, html: html}, nil
}

// mailData is what every mail template gets.
type mailData struct {
	Name, Email string
	Site        string // BASE_URL's host
	Link        string
	Valid       string // how long Link works, in words
	When        string
	Device, IP  string
	Location    string
	Reasons     string // what was new about a sign-in, in words
}

// render fills template name for m.To: the .txt's first line is the
// subject, the rest its plain body.
func (t *mailTemplates) render(name string, d mailData) (*jobs.Message, error) {
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, name+".txt", d); err != nil {
		return nil, err
	}
	if err := t.html.ExecuteTemplate(&html, name+".gohtml", d); err != nil {
		return nil, err
	}
	first, body, _ := strings.Cut(text.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok {
		return nil, fmt.Errorf("mail template %s: first line must be 'Subject: …'", name)
	}
	body = strings.TrimLeft(body, "\n")
	return &jobs.Message{To: d.Email, Subject: subject, Text: body, HTML: html.String(), Link: d.Link}, nil
}

// baseURL is where links in mail point.
func (s *Server) baseURL() string { return s.cfg.PublicURL() }

// composeMail turns a queued job into its message, minting the link it
// carries now, at delivery: no usable token waits in the queue.
func (s *Server) composeMail(ctx context.Context, a jobs.MailArgs) (*jobs.Message, error) {
	user, err := s.mailRecipient(ctx, a)
	if user == nil || err != nil || user.Disabled() {
		return nil, err
	}
	now := s.sessions.Now()
	d := mailData{Name: user.Name, Email: user.Email, Site: strings.TrimPrefix(strings.TrimPrefix(s.baseURL(), "https://"), "http://")}
	switch a.Template {
	case mailPasswordReset:
		raw, err := models.MintUserToken(ctx, s.db, &models.UserToken{UserID: user.ID, Purpose: models.TokenReset}, models.ResetTokenTTL, now)
		if err != nil {
			return nil, err
		}
		d.Link, d.Valid = s.baseURL()+"/password/reset?token="+raw, "30 minutes"
	case mailEmailVerify:
		// To the address being confirmed, which may not be the account's yet.
		raw, err := models.MintUserToken(ctx, s.db, &models.UserToken{UserID: user.ID, Purpose: models.TokenVerify, Email: a.To}, models.VerifyTokenTTL, now)
		if err != nil {
			return nil, err
		}
		d.Email, d.Link, d.Valid = a.To, s.baseURL()+"/email/verify?token="+raw, "24 hours"
	case mailSignInAlert:
		return s.composeAlert(ctx, user, a, d)
	default:
		return nil, fmt.Errorf("unknown mail template %q", a.Template)
	}
	return s.mail.render(a.Template, d)
}

// mailRecipient is the user a job is for: by id, or by the address typed
// into a form. Nil when there is no such user any more.
func (s *Server) mailRecipient(ctx context.Context, a jobs.MailArgs) (*models.User, error) {
	var user *models.User
	var err error
	if a.UserID != 0 {
		user, err = models.FindUser(ctx, s.db, a.UserID)
	} else {
		user, err = models.FindUserByEmail(ctx, s.db, models.NormalizeEmail(a.To))
	}
	if isNotFound(err) {
		return nil, nil
	}
	return user, err
}

// sendMail queues a message in tx, the transaction of what causes it.
func (s *Server) sendMail(ctx context.Context, tx bun.Tx, a jobs.MailArgs) error {
	return s.queue.EnqueueMail(ctx, tx, a, s.sessions.Now())
}

// mailSender is what delivers mail: the SMTP server, or nil to log it.
func (s *Server) mailSender(opts Options) jobs.Sender {
	if s.cfg.SMTP == nil {
		return nil
	}
	if opts.MailTLS != nil {
		return s.cfg.SMTP.WithTLSConfig(opts.MailTLS)
	}
	return s.cfg.SMTP
}

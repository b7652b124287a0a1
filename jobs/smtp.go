package jobs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP sends mail through the server SMTP_URL names: smtp:// speaks
// STARTTLS (required, except to a server on this machine, where it is
// used when offered), smtps:// TLS from the first byte; a user and
// password in the URL log in.
type SMTP struct {
	host     string
	port     int
	implicit bool // smtps
	user     string
	pass     string
	from     string
	tls      *tls.Config // nil: the system's roots
}

// ParseSMTPURL checks SMTP_URL and MAIL_FROM and returns their sender.
// The error never contains the password.
func ParseSMTPURL(raw, from string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("want smtp://[user:password@]host[:port] or smtps://…")
	}
	s := &SMTP{host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, fmt.Errorf("scheme %q: want smtp:// (STARTTLS) or smtps:// (TLS)", u.Scheme)
	}
	if s.host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Opaque != "" {
		return nil, errors.New("want smtp://[user:password@]host[:port] with no path or query")
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("port %q: want 1–65535", p)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("needs MAIL_FROM, an address such as sessiond@example.com (got %q)", from)
	}
	s.from = addr.String()
	return s, nil
}

// WithTLSConfig trusts what cfg trusts (tests pass their own root).
func (s *SMTP) WithTLSConfig(cfg *tls.Config) *SMTP {
	c := *s
	c.tls = cfg
	return &c
}

// Addr is host:port, for logs and doctor.
func (s *SMTP) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Send implements Sender: one connection per message, plain text with an
// HTML alternative.
func (s *SMTP) Send(ctx context.Context, m *Message, id string) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return err
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(id)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	c, err := gomail.NewClient(s.host, s.options()...)
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr(), err)
	}
	return nil
}

func (s *SMTP) options() []gomail.Option {
	cfg := s.tls
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg = cfg.Clone()
	cfg.ServerName = s.host
	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(30 * time.Second), gomail.WithTLSConfig(cfg)}
	switch {
	case s.implicit:
		opts = append(opts, gomail.WithSSL())
	case isLoopbackHost(s.host):
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	return opts
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

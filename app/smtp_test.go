package app

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailbox is a real SMTP server in the test process (emersion/go-smtp):
// STARTTLS with a certificate the test made, AUTH PLAIN, and every message
// it accepts kept with its arrival time. It can go down and come back on
// the same address, as a mail server does in an outage.
type mailbox struct {
	t    testing.TB
	addr string
	tls  *tls.Config // the server's
	root *x509.CertPool

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	messages []receivedMail
	arrived  chan struct{}
}

type receivedMail struct {
	From, To string
	Raw      []byte
	At       time.Time
}

const mailUser, mailPass = "sessiond", "s3cret-pass"

func newMailbox(t testing.TB) *mailbox {
	t.Helper()
	cert, root := selfSigned(t)
	m := &mailbox{t: t, tls: &tls.Config{Certificates: []tls.Certificate{cert}}, root: root, arrived: make(chan struct{}, 10000)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	m.serve(ln)
	t.Cleanup(m.stop)
	return m
}

// url is SMTP_URL for this server, with its credentials.
func (m *mailbox) url() string { return "smtp://" + mailUser + ":" + mailPass + "@" + m.addr }

// clientTLS trusts the server's certificate (Options.MailTLS).
func (m *mailbox) clientTLS(o *Options) { o.MailTLS = &tls.Config{RootCAs: m.root} }

func (m *mailbox) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: m}, nil }))
	srv.Domain, srv.TLSConfig = "mail.test", m.tls
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	m.mu.Lock()
	m.srv, m.ln = srv, ln
	m.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop takes the server down: connections are refused until start.
func (m *mailbox) stop() {
	m.mu.Lock()
	srv, ln := m.srv, m.ln
	m.srv, m.ln = nil, nil
	m.mu.Unlock()
	if srv != nil {
		_ = ln.Close() // Serve may not have taken it yet: Close alone would miss it
		_ = srv.Close()
	}
}

// start brings the server back on its address.
func (m *mailbox) start() {
	m.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger a moment
		if ln, err = net.Listen("tcp", m.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		m.t.Fatal(err)
	}
	m.serve(ln)
}

func (m *mailbox) all() []receivedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]receivedMail(nil), m.messages...)
}

// wait returns once n messages have arrived in all.
func (m *mailbox) wait(n int) []receivedMail {
	m.t.Helper()
	deadline := time.After(90 * time.Second)
	for {
		if got := m.all(); len(got) >= n {
			return got
		}
		select {
		case <-m.arrived:
		case <-deadline:
			m.t.Fatalf("waited for %d messages, have %d", n, len(m.all()))
		}
	}
}

type mailSession struct {
	box      *mailbox
	authed   bool
	from, to string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != mailUser || pass != mailPass {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	s.box.messages = append(s.box.messages, receivedMail{From: s.from, To: s.to, Raw: raw, At: time.Now()})
	s.box.mu.Unlock()
	s.box.arrived <- struct{}{}
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// parsedMail is a delivered message, decoded.
type parsedMail struct {
	Header    mail.Header
	Text      string
	HTML      string
	MessageID string
}

// parseMail decodes a multipart/alternative message into its parts.
func parseMail(t testing.TB, raw []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	p := parsedMail{Header: msg.Header, MessageID: msg.Header.Get("Message-Id")}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("content type %q: want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
	return p
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)

// link is the first link in the plain-text part.
func (p parsedMail) link(t testing.TB) string {
	t.Helper()
	l := linkPattern.FindString(p.Text)
	if l == "" {
		t.Fatalf("no link in the message:\n%s\n%s", p.Header, p.Text)
	}
	return l
}

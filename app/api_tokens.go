package app

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// API tokens: a user's personal ones on /account/tokens, service ones an
// admin makes on /admin/tokens. The secret is shown once, in the answer
// that created it.

type tokensView struct {
	Tokens  []tokenRow
	Scopes  []string
	Secret  string // the token just created, shown this once
	Admin   bool
	Action  string
	Default string // the expiry the form suggests
}

// tokenRow is a token as pages and JSON show it: never the secret.
type tokenRow struct {
	ID         int64      `json:"id"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	Owner      string     `json:"owner"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	LastUsedIP string     `json:"lastUsedIp"`
	RevokedAt  *time.Time `json:"revokedAt"`
	Status     string     `json:"status"`
}

func tokenJSON(t *models.APIToken, now time.Time) tokenRow {
	r := tokenRow{ID: t.ID, Kind: t.Kind, Name: t.Name, Prefix: t.Prefix, Scopes: t.ScopeList(), CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, LastUsedIP: t.LastUsedIP, RevokedAt: t.RevokedAt, Status: "active"}
	if t.User != nil {
		r.Owner = t.User.Email
	}
	switch {
	case t.RevokedAt != nil:
		r.Status = "revoked"
	case !t.Usable(now):
		r.Status = "expired"
	}
	return r
}

// ParseExpiry reads a token lifetime: "" or "never" for none, "30d" in
// days, or a Go duration such as "12h"; at most ten years.
func ParseExpiry(v string, now time.Time) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "never" {
		return nil, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return nil, models.Invalid("expires", "want a number of days like 30d, a duration like 12h, or never")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return nil, models.Invalid("expires", "want a number of days like 30d, a duration like 12h, or never")
		}
	}
	if d <= 0 || d > 3650*24*time.Hour {
		return nil, models.Invalid("expires", "must be between 1 minute and 3650 days")
	}
	t := now.Add(d)
	return &t, nil
}

// tokenOwner: the admin page lists every token; the account page only the user's own.
func tokenOwner(c *fiber.Ctx) int64 {
	if strings.HasPrefix(c.Path(), "/admin/") {
		return 0
	}
	return currentSession(c).UserID
}

func (s *Server) handleTokensList(c *fiber.Ctx) error {
	return s.tokensPage(c, fiber.StatusOK, "")
}

func (s *Server) tokensPage(c *fiber.Ctx, status int, secret string) error {
	list, err := models.ListAPITokens(c.UserContext(), s.db, tokenOwner(c))
	if err != nil {
		return err
	}
	now := s.sessions.Now()
	rows := make([]tokenRow, 0, len(list))
	for i := range list {
		rows = append(rows, tokenJSON(&list[i], now))
	}
	if wantsJSON(c) {
		return c.Status(status).JSON(fiber.Map{"tokens": rows})
	}
	admin := tokenOwner(c) == 0
	v := tokensView{Tokens: rows, Scopes: models.Scopes, Secret: secret, Admin: admin, Action: "/account/tokens", Default: "90d"}
	title, nav := "API tokens", "account-tokens"
	if admin {
		v.Action, title, nav = "/admin/tokens", "Service tokens", "admin-tokens"
	}
	return s.view(c, status, "account/tokens", "", Page{Title: title, Nav: nav, Data: v})
}

// handleTokenCreate makes a token for the signed-in user: personal on the
// account page, a service token on the admin page.
func (s *Server) handleTokenCreate(c *fiber.Ctx) error {
	now := s.sessions.Now()
	in, err := readTokenInput(c)
	if err != nil {
		return err
	}
	scopes, err := models.ParseScopes(strings.Join(in.Scopes, ","))
	if err != nil {
		return err
	}
	expires, err := ParseExpiry(in.Expires, now)
	if err != nil {
		return err
	}
	kind := models.TokenPersonal
	if tokenOwner(c) == 0 {
		kind = models.TokenService
	}
	sess := currentSession(c)
	secret, tok, err := models.CreateAPIToken(c.UserContext(), s.db, models.NewAPIToken{UserID: sess.UserID, Kind: kind,
		Name: in.Name, Scopes: scopes, ExpiresAt: expires}, now)
	if err != nil {
		return err
	}
	s.recordTokenEvent(c, models.EventTokenCreated, tok)
	if wantsJSON(c) {
		tok.User = sess.User
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": tokenJSON(tok, now), "secret": secret})
	}
	return s.tokensPage(c, fiber.StatusCreated, secret)
}

func (s *Server) handleTokenRevoke(c *fiber.Ctx) error {
	id, err := positiveID("id", c.Params("id"))
	if err != nil {
		return err
	}
	if err := models.RevokeAPIToken(c.UserContext(), s.db, id, tokenOwner(c), s.sessions.Now()); err != nil {
		return err
	}
	s.recordTokenEvent(c, models.EventTokenRevoked, &models.APIToken{ID: id})
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"revoked": id})
	}
	if isHTMX(c) {
		c.Set("HX-Refresh", "true")
		return c.SendStatus(fiber.StatusOK)
	}
	return redirect(c, strings.TrimSuffix(c.Path(), "/"+c.Params("id")))
}

func (s *Server) recordTokenEvent(c *fiber.Ctx, kind string, tok *models.APIToken) {
	a := s.audit(c)
	detail := "token=" + strconv.FormatInt(tok.ID, 10)
	if tok.Name != "" {
		detail += " name=" + tok.Name + " scopes=" + tok.Scopes
	}
	if err := models.RecordEvent(c.UserContext(), s.db, a.Event(kind, s.sessions.Now(), 0, a.ActorID, detail)); err != nil {
		s.log.WarnContext(c.UserContext(), "record token event", "error", err)
	}
}

type tokenInput struct {
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes"`
	Expires string   `json:"expires"`
}

// readTokenInput reads the form, or a JSON body.
func readTokenInput(c *fiber.Ctx) (tokenInput, error) {
	if !strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		return tokenInput{Name: formValue(c, "name"), Scopes: formValues(c, "scopes"), Expires: formValue(c, "expires")}, nil
	}
	var in tokenInput
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return in, fiber.NewError(fiber.StatusBadRequest, "body: want a JSON object with name, scopes and expires")
	}
	return in, nil
}

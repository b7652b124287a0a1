package app

import (
	"bytes"
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Page is what every full page gets besides its own data.
type Page struct {
	Title   string
	Nav     string // which nav link is active
	User    *models.User
	Session *models.Session
	CSRF    string
	Flash   string
	Data    any
	Warning string // about the setup, for admins (see adminWarning)
}

// wantsJSON: every /api route answers JSON; elsewhere a client that asks
// for JSON (and not HTML) or authenticates with a header gets it, while
// htmx and browsers get HTML.
func wantsJSON(c *fiber.Ctx) bool {
	if isAPI(c) {
		return true
	}
	if isHTMX(c) {
		return false
	}
	if len(c.Request().Header.Peek(fiber.HeaderAuthorization)) > 0 {
		return true
	}
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, fiber.MIMEApplicationJSON) && !strings.Contains(accept, fiber.MIMETextHTML)
}

// wantsJSONError: a refusal goes to a browser as a page or a redirect to
// sign in, and to anything that did not ask for HTML (curl's */*, no
// Accept at all, fetch) as JSON, so a script never follows a redirect to a
// sign-in page and reads it as a 200.
func wantsJSONError(c *fiber.Ctx) bool {
	if wantsJSON(c) {
		return true
	}
	return !isHTMX(c) && !strings.Contains(c.Get(fiber.HeaderAccept), fiber.MIMETextHTML)
}

func isAPI(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/api/") }

func isHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }

// wantsFragment: an htmx request that is neither boosted nor a history
// restore gets only the fragment; everything else gets the full page.
func wantsFragment(c *fiber.Ctx) bool {
	return isHTMX(c) && c.Get("HX-Boosted") != "true" && c.Get("HX-History-Restore-Request") != "true"
}

// view is the one render path for HTML: the fragment alone for htmx, else
// the page inside the layout. Templates render into a buffer first so a
// template error becomes a clean 500, never half a page.
func (s *Server) view(c *fiber.Ctx, status int, page, fragment string, p Page) error {
	c.Vary("HX-Request")
	if fragment != "" && wantsFragment(c) {
		return s.renderTemplate(c, status, fragment, p)
	}
	return s.renderPage(c, status, page, p)
}

func (s *Server) renderPage(c *fiber.Ctx, status int, page string, p Page) error {
	if p.CSRF == "" {
		p.CSRF = s.csrfToken(c)
	}
	if p.User == nil {
		if sess := currentSession(c); sess != nil {
			p.User, p.Session = sess.User, sess
		}
	}
	if p.User != nil && p.User.IsAdmin() {
		p.Warning = s.adminWarning()
	}
	var body bytes.Buffer
	if err := s.views.Render(&body, page, p); err != nil {
		return err
	}
	var out bytes.Buffer
	layout := struct {
		Page
		Content template.HTML
	}{p, template.HTML(body.String())} //nolint:gosec // rendered by html/template above
	if err := s.views.Render(&out, "layouts/base", layout); err != nil {
		return err
	}
	c.Type("html", "utf-8")
	return c.Status(status).Send(out.Bytes())
}

func (s *Server) renderTemplate(c *fiber.Ctx, status int, name string, p Page) error {
	if p.CSRF == "" {
		p.CSRF = s.csrfToken(c)
	}
	if p.User == nil {
		if sess := currentSession(c); sess != nil {
			p.User, p.Session = sess.User, sess
		}
	}
	var out bytes.Buffer
	if err := s.views.Render(&out, name, p); err != nil {
		return err
	}
	c.Type("html", "utf-8")
	return c.Status(status).Send(out.Bytes())
}

// redirect sends the browser to path: HX-Redirect for htmx (a 3xx would be
// followed inside the XHR), 303 otherwise so a POST becomes a GET.
func redirect(c *fiber.Ctx, path string) error {
	if isHTMX(c) {
		c.Set("HX-Redirect", path)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(path, fiber.StatusSeeOther)
}

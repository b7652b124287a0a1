package app

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// formValue reads a field from the request body only (urlencoded or
// multipart), never from the query string.
func formValue(c *fiber.Ctx, name string) string {
	ct := string(c.Request().Header.ContentType())
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		return string(c.Request().PostArgs().Peek(name))
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		if form, err := c.MultipartForm(); err == nil {
			if v := form.Value[name]; len(v) > 0 {
				return v[0]
			}
		}
	}
	return ""
}

// formValues is every value of a repeated form field (checkboxes); a
// single comma-separated value works too.
func formValues(c *fiber.Ctx, name string) []string {
	var out []string
	if strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationForm) {
		for _, v := range c.Request().PostArgs().PeekMulti(name) {
			out = append(out, string(v))
		}
		return out
	}
	if v := formValue(c, name); v != "" {
		out = append(out, v)
	}
	return out
}

// positiveID parses a database id; anything else is a 400 naming name.
func positiveID(name, v string) (int64, error) {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, badParam(name, "must be a positive whole number")
	}
	return id, nil
}

func (s *Server) client(c *fiber.Ctx) models.Client {
	return models.Client{IP: s.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
}

// audit says who is acting, for the event a change records.
func (s *Server) audit(c *fiber.Ctx) models.Audit {
	a := models.Audit{IP: s.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	if sess := currentSession(c); sess != nil {
		a.ActorID = sess.UserID
	}
	if tok := apiToken(c); tok != nil {
		a.ActorTokenID = tok.ID
	}
	return a
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

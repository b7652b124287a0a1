package app

import (
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// errUnauthenticated: the route needs a signed-in user.
var errUnauthenticated = fiber.NewError(fiber.StatusUnauthorized, "sign in required")

// badParam is a 400 naming the query parameter that was wrong.
func badParam(name, msg string) error {
	return fiber.NewError(fiber.StatusBadRequest, name+": "+msg)
}

// statusOf maps an error to its HTTP status and the message a user may
// see. Internals never reach the user.
func statusOf(err error) (int, string) {
	var fe *fiber.Error
	var ve *models.ValidationError
	var ce *models.ConflictError
	switch {
	case errors.As(err, &fe) && fe.Code == fiber.StatusNotFound && strings.HasPrefix(fe.Message, "Cannot "):
		return fiber.StatusNotFound, "not found" // Fiber's own "Cannot GET /x": no route has this address
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	case errors.As(err, &ve):
		return fiber.StatusUnprocessableEntity, ve.Error()
	case errors.Is(err, models.ErrNotFound):
		return fiber.StatusNotFound, "not found"
	case errors.As(err, &ce):
		return fiber.StatusConflict, ce.Message
	case errors.Is(err, models.ErrConflict):
		return fiber.StatusConflict, "conflict: it already exists"
	case errors.Is(err, models.ErrUnavailable):
		return fiber.StatusServiceUnavailable, "service temporarily unavailable, please retry"
	}
	return fiber.StatusInternalServerError, "internal error"
}

// handleError is the one error path: JSON for API clients, a toast for
// htmx, an HTML page for browsers.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status, msg := statusOf(err)
	if status == fiber.StatusInternalServerError {
		msg = "internal error (request " + requestID(c) + ")"
	}
	switch {
	case status >= 500:
		s.log.ErrorContext(c.UserContext(), "request failed", "request_id", requestID(c), "status", status, "error", err)
	default:
		s.log.DebugContext(c.UserContext(), "request refused", "request_id", requestID(c), "status", status, "reason", msg)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Vary("HX-Request")
	if status == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, retryAfterBusy)
	}
	if status == fiber.StatusMethodNotAllowed && c.GetRespHeader(fiber.HeaderAllow) == "" {
		c.Set(fiber.HeaderAllow, allow)
	}
	if wantsJSONError(c) {
		return c.Status(status).JSON(fiber.Map{"error": msg})
	}
	msg = humanMessage(msg)
	if status == fiber.StatusInternalServerError {
		msg = "Something went wrong on our side (request " + requestID(c) + ")."
	}
	switch {
	case status == fiber.StatusUnauthorized && isHTMX(c):
		c.Set("HX-Redirect", s.signInAgainURL(c))
		return c.SendStatus(status)
	case status == fiber.StatusUnauthorized:
		return c.Redirect(s.signInAgainURL(c), fiber.StatusSeeOther)
	case isHTMX(c):
		c.Set("HX-Retarget", "#toast")
		c.Set("HX-Reswap", "innerHTML")
		return s.renderSafe(c, status, "errors/toast", msg)
	}
	return s.renderSafe(c, status, "errors/error", msg)
}

// renderSafe renders an error view, falling back to plain text if even
// that fails, so the error path itself never errors.
func (s *Server) renderSafe(c *fiber.Ctx, status int, name, msg string) error {
	p := Page{Title: errorTitle(status), Data: errorView{Status: status, Message: msg}}
	var err error
	if name == "errors/toast" {
		err = s.renderTemplate(c, status, name, p)
	} else {
		err = s.renderPage(c, status, name, p)
	}
	if err != nil {
		s.log.Error("render error page", "error", err)
		c.Type("txt", "utf-8")
		return c.Status(status).SendString(msg)
	}
	return nil
}

type errorView struct {
	Status  int
	Message string
}

// errorTitle heads an error page in words people use.
func errorTitle(code int) string {
	switch code {
	case fiber.StatusNotFound:
		return "Page not found"
	case fiber.StatusForbidden:
		return "Not allowed"
	case fiber.StatusMethodNotAllowed:
		return "Not possible here"
	case fiber.StatusTooManyRequests:
		return "Too many attempts"
	case fiber.StatusServiceUnavailable:
		return "Busy for a moment"
	}
	if code >= 500 {
		return "Something went wrong"
	}
	return "That did not work"
}

// signInAgainURL is the sign-in page that brings the user back afterwards: to
// the page an htmx request came from, the page a form was posted from, or
// the page asked for.
func (s *Server) signInAgainURL(c *fiber.Ctx) string {
	back := c.OriginalURL()
	switch {
	case isHTMX(c):
		back = samePath(c.Get("HX-Current-URL"))
	case c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead:
		back = samePath(c.Get(fiber.HeaderReferer))
	}
	if back == "" || back == "/" || strings.HasPrefix(back, "/login") {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(back)
}

// samePath keeps the path and query of an address on this site (the
// browser sends its own page's full URL); anything else is dropped.
func samePath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	return u.RequestURI()
}

func isNotFound(err error) bool { return errors.Is(err, models.ErrNotFound) }

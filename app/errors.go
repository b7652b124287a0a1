package app

import (
	"errors"
	"net/url"

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
	switch {
	case wantsJSONError(c):
		return c.Status(status).JSON(fiber.Map{"error": msg})
	case status == fiber.StatusUnauthorized && isHTMX(c):
		c.Set("HX-Redirect", "/login")
		return c.SendStatus(status)
	case status == fiber.StatusUnauthorized:
		return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
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
	p := Page{Title: fiberStatusText(status), Data: errorView{Status: status, Message: msg}}
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

func fiberStatusText(code int) string {
	if t := fiber.NewError(code).Message; t != "" {
		return t
	}
	return "Error"
}

func isNotFound(err error) bool { return errors.Is(err, models.ErrNotFound) }

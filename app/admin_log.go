package app

import "github.com/gofiber/fiber/v2"

const localsAdminNote = "admin_note"

// adminNote is what a handler says about its admin action, for the log line.
type adminNote struct {
	msg  string
	args []any
}

// logAdmin names the admin action a handler performed and adds what the
// route alone does not say: slog key/value pairs such as ids and counts,
// never a token. logAdminActions writes the line once the request succeeded.
func (s *Server) logAdmin(c *fiber.Ctx, msg string, args ...any) {
	c.Locals(localsAdminNote, &adminNote{msg: msg, args: args})
}

// logAdminActions writes one info line for every admin request that
// changed something and succeeded (and for reads a handler names with
// logAdmin, such as an export), with who did it and from where, so the
// log tells the same story as the audit trail. Being the admin group's
// middleware, it covers every admin route, including ones added later.
func (s *Server) logAdminActions(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err // refused or failed: the access line tells it
	}
	note, _ := c.Locals(localsAdminNote).(*adminNote)
	mutation := c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead
	if c.Response().StatusCode() >= fiber.StatusBadRequest || (!mutation && note == nil) {
		return nil
	}
	if note == nil {
		note = &adminNote{msg: "admin action"}
	}
	attrs := []any{"request_id", requestID(c), "ip", s.clientIP(c)}
	if sess := currentSession(c); sess != nil {
		attrs = append(attrs, "actor_id", sess.UserID)
		if sess.User != nil {
			attrs = append(attrs, "actor_email", sess.User.Email)
		}
	}
	attrs = append(attrs, "method", c.Method(), "route", c.Route().Path)
	s.log.InfoContext(c.UserContext(), note.msg, append(attrs, note.args...)...)
	return nil
}

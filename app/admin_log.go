package app

import "github.com/gofiber/fiber/v2"

// logAdmin writes one info line for an admin action, with who did it and
// from where, so the log tells the same story as the audit trail. args are
// slog key/value pairs about the action (ids and counts, never a token).
func (s *Server) logAdmin(c *fiber.Ctx, msg string, args ...any) {
	attrs := []any{"request_id", requestID(c), "ip", s.clientIP(c)}
	if sess := currentSession(c); sess != nil {
		attrs = append(attrs, "actor_id", sess.UserID)
		if sess.User != nil {
			attrs = append(attrs, "actor_email", sess.User.Email)
		}
	}
	s.log.InfoContext(c.UserContext(), msg, append(attrs, args...)...)
}

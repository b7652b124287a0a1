package app

import "context"

// runCleanup deletes expired sessions now on behalf of trigger
// ("schedule", "admin" or "cli") and returns how many rows went. The
// cleanup job, the admin button and the CLI all come through here.
func (s *Server) runCleanup(ctx context.Context, trigger string) (int, error) {
	return s.sessions.CleanupExpiredSessions(ctx)
}

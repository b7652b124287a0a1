package app

import "github.com/riverqueue/river"

// queueWorkers is every kind of job this server delivers. Each worker lives
// in jobs/; the server hands it what it needs from the app.
func (s *Server) queueWorkers() *river.Workers {
	return nil
}

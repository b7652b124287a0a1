package app

import (
	"sync"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// proxyWarning remembers the first request that carried X-Forwarded-For
// from an address TRUSTED_PROXIES does not name. sessiond then ignores the
// header, which is right for a client that made it up, and wrong for a
// reverse proxy left out of TRUSTED_PROXIES: every visitor would share the
// proxy's address and so one sign-in throttle count, and one person
// guessing passwords could lock everyone out. It is logged once and shown
// to admins on every page until the process restarts.
type proxyWarning struct {
	once sync.Once
	msg  atomic.Pointer[string]
}

// noteForwardedFor is the middleware that notices it; after the first
// time it costs one atomic load per request.
func (s *Server) noteForwardedFor(c *fiber.Ctx) error {
	if s.proxyWarn.msg.Load() == nil && len(c.Request().Header.Peek(fiber.HeaderXForwardedFor)) > 0 {
		if peer := c.Context().RemoteIP().String(); !s.isTrusted(peer) {
			s.proxyWarn.once.Do(func() {
				msg := "Requests from " + peer + " carry X-Forwarded-For, but TRUSTED_PROXIES does not name that address, " +
					"so sessiond ignores the header. If " + peer + " is your reverse proxy, every visitor looks like it and shares " +
					"one sign-in throttle count: one person guessing passwords can lock everyone out. Add it to TRUSTED_PROXIES " +
					"(e.g. TRUSTED_PROXIES=" + peer + "). If it is not your proxy, a client sent the header itself and nothing needs doing."
				s.proxyWarn.msg.Store(&msg)
				s.log.Warn("X-Forwarded-For from an address TRUSTED_PROXIES does not name: the header is ignored", "peer", peer,
					"fix", "if this is your reverse proxy, add it to TRUSTED_PROXIES")
			})
		}
	}
	return c.Next()
}

// adminWarning is what the console shows admins about the setup, or "".
func (s *Server) adminWarning() string {
	if m := s.proxyWarn.msg.Load(); m != nil {
		return *m
	}
	return ""
}

package main

import (
	"context"
	"net"

	"github.com/gofiber/fiber/v2"
)

// healthzBody is the answer of every peer's /healthz, as sessiond's.
var healthzBody = []byte(`{"status":"ok"}`)

func healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(healthzBody)
}

// serveBare is a default Fiber app with /healthz alone and no middleware.
func serveBare(ctx context.Context, ln net.Listener) error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/healthz", healthz)
	return runFiber(ctx, app, ln)
}

// runFiber serves app on ln until ctx is done, then shuts it down.
func runFiber(ctx context.Context, app *fiber.App, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return app.Shutdown()
	}
}

// user is the body of /api/me, the same for every peer.
type user struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

type meBody struct {
	User user `json:"user"`
}

var unauthenticated = map[string]string{"error": "unauthenticated"}

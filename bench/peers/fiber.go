package main

import (
	"context"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"
)

// serveFiber is Fiber with its session middleware on a SQL storage.
// /api/me only reads the session and never calls Save, so it never writes.
func serveFiber(ctx context.Context, dsn string, ln net.Listener) error {
	storage, err := openFiberStorage(ctx, dsn)
	if err != nil {
		return err
	}
	defer storage.Close()
	store := session.New(session.Config{Storage: storage, KeyLookup: "cookie:session_id"})

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/healthz", healthz)
	app.Get("/api/me", func(c *fiber.Ctx) error {
		sess, err := store.Get(c)
		if err != nil {
			return err
		}
		id, ok := sess.Get("userID").(int64)
		if !ok {
			return c.Status(fiber.StatusUnauthorized).JSON(unauthenticated)
		}
		name, _ := sess.Get("name").(string)
		email, _ := sess.Get("email").(string)
		role, _ := sess.Get("role").(string)
		return c.JSON(meBody{User: user{ID: id, Name: name, Email: email, Role: role}})
	})
	return runFiber(ctx, app, ln)
}

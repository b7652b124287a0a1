package app

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

type mailView struct {
	Deliveries []models.Delivery
	Configured bool   // SMTP_URL is set
	Server     string // its host:port
	Now        time.Time
}

// handleAdminMail lists the latest mail deliveries and failures. Without a
// mail server the messages were logged; the users page hands out reset
// links instead.
func (s *Server) handleAdminMail(c *fiber.Ctx) error {
	ds, err := models.RecentDeliveries(c.UserContext(), s.db.Read, "mail", 100)
	if err != nil {
		return err
	}
	v := mailView{Deliveries: ds, Configured: s.cfg.SMTP != nil, Now: s.sessions.Now()}
	if s.cfg.SMTP != nil {
		v.Server = s.cfg.SMTP.Addr()
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deliveries": ds, "smtpConfigured": v.Configured})
	}
	return s.view(c, fiber.StatusOK, "admin/mail", "", Page{Title: "Mail", Nav: "admin-mail", Data: v})
}

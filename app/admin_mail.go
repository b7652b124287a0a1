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
	Link       string // a link the admin asked to copy
	LinkFor    string // whom it is for
}

// handleAdminMail lists the latest mail deliveries and failures. Without a
// mail server the messages were logged; a logged reset or verification
// message offers a fresh link to copy and hand over.
func (s *Server) handleAdminMail(c *fiber.Ctx) error {
	v, err := s.mailView(c)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deliveries": v.Deliveries, "smtpConfigured": v.Configured})
	}
	return s.view(c, fiber.StatusOK, "admin/mail", "", Page{Title: "Mail", Nav: "admin-mail", Data: v})
}

func (s *Server) mailView(c *fiber.Ctx) (*mailView, error) {
	ds, err := models.RecentDeliveries(c.UserContext(), s.db.Read, "mail", 100)
	if err != nil {
		return nil, err
	}
	v := &mailView{Deliveries: ds, Configured: s.cfg.SMTP != nil, Now: s.sessions.Now()}
	if s.cfg.SMTP != nil {
		v.Server = s.cfg.SMTP.Addr()
	}
	return v, nil
}

// handleAdminMailLink mints a new link of a logged (never mailed) reset or
// verification message, for the admin to hand over: the link in the log
// is void from then on, as any older link is.
func (s *Server) handleAdminMailLink(c *fiber.Ctx) error {
	jobID, err := positiveID("id", c.Params("id"))
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	d, err := models.FindDelivery(ctx, s.db, jobID)
	if err != nil {
		return err
	}
	if d.Status != models.DeliveryLogged || d.UserID == nil || (d.Kind != mailPasswordReset && d.Kind != mailEmailVerify) {
		return fiber.NewError(fiber.StatusConflict, "only a reset or verification message that was logged, not mailed, has a link to copy")
	}
	u, err := models.FindUser(ctx, s.db, *d.UserID)
	if err != nil {
		return err
	}
	var link string
	if d.Kind == mailPasswordReset {
		link, err = s.resetLink(ctx, u, s.audit(c))
	} else {
		link, err = s.verifyLink(ctx, u, d.Recipient, s.audit(c))
	}
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin copied a mail link", "user_id", u.ID, "job_id", jobID, "kind", d.Kind)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"userId": u.ID, "kind": d.Kind, "link": link})
	}
	v, err := s.mailView(c)
	if err != nil {
		return err
	}
	v.Link, v.LinkFor = link, d.Recipient
	return s.view(c, fiber.StatusOK, "admin/mail", "", Page{Title: "Mail", Nav: "admin-mail", Data: v})
}

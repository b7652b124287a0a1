package app

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"sessiond/jobs"
	"sessiond/models"
)

// Webhooks: admins register endpoints; audit events of the types each
// wants are posted to it, signed (Standard Webhooks), through the queue.

type webhooksView struct {
	Endpoints  []webhookEndpointJSON
	Deliveries []models.WebhookDelivery
	Types      []string
	Secret     string // the secret of the endpoint just added, shown once
	Now        time.Time
}

type webhookEndpointJSON struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"createdAt"`
}

func endpointJSON(e *models.WebhookEndpoint) webhookEndpointJSON {
	return webhookEndpointJSON{ID: e.ID, URL: e.URL, Events: e.EventList(), CreatedAt: e.CreatedAt}
}

func (s *Server) handleAdminWebhooks(c *fiber.Ctx) error {
	return s.webhooksPage(c, fiber.StatusOK, "")
}

func (s *Server) webhooksPage(c *fiber.Ctx, status int, secret string) error {
	eps, err := models.ListWebhookEndpoints(c.UserContext(), s.db.Read)
	if err != nil {
		return err
	}
	ds, err := models.RecentWebhookDeliveries(c.UserContext(), s.db.Read, 100)
	if err != nil {
		return err
	}
	v := webhooksView{Endpoints: make([]webhookEndpointJSON, 0, len(eps)), Deliveries: ds, Types: models.WebhookTypes, Secret: secret, Now: s.sessions.Now()}
	for i := range eps {
		v.Endpoints = append(v.Endpoints, endpointJSON(&eps[i]))
	}
	if wantsJSON(c) {
		return c.Status(status).JSON(fiber.Map{"endpoints": v.Endpoints, "deliveries": v.Deliveries})
	}
	return s.view(c, status, "admin/webhooks", "", Page{Title: "Webhooks", Nav: "admin-webhooks", Data: v})
}

type webhookInput struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

func readWebhookInput(c *fiber.Ctx) (webhookInput, error) {
	if !strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		return webhookInput{URL: formValue(c, "url"), Events: formValues(c, "events"), Secret: formValue(c, "secret")}, nil
	}
	var in webhookInput
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return in, fiber.NewError(fiber.StatusBadRequest, "body: want a JSON object with url, events and optionally secret")
	}
	return in, nil
}

// handleAdminWebhookCreate registers an endpoint; its secret is in this
// answer only (a blank one is generated).
func (s *Server) handleAdminWebhookCreate(c *fiber.Ctx) error {
	in, err := readWebhookInput(c)
	if err != nil {
		return err
	}
	if len(in.Events) == 1 && strings.Contains(in.Events[0], ",") {
		in.Events = strings.Split(in.Events[0], ",")
	}
	if s.isSelf(c, in.URL) {
		return models.Invalid("url", "points at sessiond itself")
	}
	ep, err := models.CreateWebhookEndpoint(c.UserContext(), s.db, in.URL, in.Events, in.Secret, s.sessions.Now())
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin added webhook endpoint", "endpoint_id", ep.ID, "url", ep.URL)
	if wantsJSON(c) {
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"endpoint": endpointJSON(ep), "secret": ep.Secret})
	}
	return s.webhooksPage(c, fiber.StatusCreated, ep.Secret)
}

// isSelf reports whether raw points at this server: its public URL's host,
// the host the admin reached it by, or its listen port on a loopback or
// unspecified address. Posting events to itself would serve no one.
func (s *Server) isSelf(c *fiber.Ctx, raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	if host == strings.ToLower(c.Hostname()) || (s.cfg.BaseURL != nil && host == strings.ToLower(s.cfg.BaseURL.Host)) {
		return true
	}
	_, listenPort, _ := net.SplitHostPort(s.cfg.ListenAddr)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ip := net.ParseIP(u.Hostname())
	local := u.Hostname() == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified()))
	return local && port == listenPort
}

func (s *Server) handleAdminWebhookDelete(c *fiber.Ctx) error {
	id, err := positiveID("id", c.Params("id"))
	if err != nil {
		return err
	}
	if err := models.DeleteWebhookEndpoint(c.UserContext(), s.db, id); err != nil {
		return err
	}
	s.logAdmin(c, "admin removed webhook endpoint", "endpoint_id", id)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": 1})
	}
	if isHTMX(c) {
		c.Set("HX-Refresh", "true")
		return c.SendStatus(fiber.StatusOK)
	}
	return redirect(c, "/admin/webhooks")
}

// handleAdminWebhookResend queues a delivery again: the same id and body,
// a new job, a new row in the log.
func (s *Server) handleAdminWebhookResend(c *fiber.Ctx) error {
	id, err := positiveID("id", c.Params("id"))
	if err != nil {
		return err
	}
	d, err := models.FindWebhookDelivery(c.UserContext(), s.db, id)
	if err != nil {
		return err
	}
	var args jobs.WebhookArgs
	if err := json.Unmarshal([]byte(d.Args), &args); err != nil {
		return fiber.NewError(fiber.StatusConflict, "this delivery cannot be sent again")
	}
	err = s.db.RunInTx(c.UserContext(), nil, func(ctx context.Context, tx bun.Tx) error {
		return s.queue.EnqueueWebhook(ctx, tx, args, d.Recipient, s.sessions.Now())
	})
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin resent webhook", "delivery_id", id)
	if wantsJSON(c) {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"queued": true})
	}
	if isHTMX(c) {
		c.Set("HX-Refresh", "true")
		return c.SendStatus(fiber.StatusOK)
	}
	return redirect(c, "/admin/webhooks")
}

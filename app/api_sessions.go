package app

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// Native and CLI clients sign in with JSON and keep the session token
// themselves, sending it as Authorization: Bearer. The password and the
// second factor count in the same throttle as the sign-in form's.

type nativeSignIn struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Code     string `json:"code"` // a one-time or recovery code, when the user has a second factor
}

// isNativeSignIn: a JSON POST to /api/sessions. A browser cannot send one
// cross-site without a CORS preflight, which sessiond never grants, and
// its answer sets no cookie, so it needs no CSRF token.
func isNativeSignIn(c *fiber.Ctx) bool {
	return c.Method() == fiber.MethodPost && c.Path() == "/api/sessions" &&
		strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON)
}

func (s *Server) handleAPISessionCreate(c *fiber.Ctx) error {
	if !isNativeSignIn(c) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "body: want application/json with email and password")
	}
	var in nativeSignIn
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "body: want a JSON object with email, password and, with a second factor, code")
	}
	user, err := s.passwordStep(c, models.NormalizeEmail(in.Email), in.Password, "")
	if user == nil {
		return err
	}
	amr := models.AMR(models.MethodPassword)
	factors, err := models.UserFactors(c.UserContext(), s.db, user.ID)
	if err != nil {
		return err
	}
	if factors.Any() {
		if in.Code == "" {
			return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "a second factor is required: send code", "secondFactor": true})
		}
		code, err := parseCode(in.Code)
		if err != nil {
			return err
		}
		method, err := s.verifyCode(c, user.ID, code)
		if err != nil {
			return err
		}
		if method == "" {
			return fiber.NewError(fiber.StatusUnauthorized, "wrong code: check your authenticator app's clock, or use a recovery code")
		}
		amr = amr.With(method)
	}
	r, err := s.startSession(c, signIn{user: user, amr: amr, native: true})
	if err != nil {
		return err
	}
	if r.step != "" {
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "a second factor must be set up first, in a browser", "enrol": true})
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": r.token, "expires": r.session.ExpiresAt,
		"sessionId": r.session.ID, "user": userJSON(user), "amr": r.session.AMR.List()})
}

// handleAPISessionDelete signs the caller's session out: the bearer
// session token, or the cookie (with its CSRF token).
func (s *Server) handleAPISessionDelete(c *fiber.Ctx) error {
	token := c.Cookies(s.cfg.CookieName())
	if viaBearer(c) {
		_, token, _ = strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	}
	n, err := s.sessions.DeleteSession(c.UserContext(), token, s.audit(c))
	if err != nil {
		return err
	}
	if !viaBearer(c) {
		s.clearSessionCookie(c)
	}
	return c.JSON(fiber.Map{"deleted": n})
}

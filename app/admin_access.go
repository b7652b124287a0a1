package app

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// accessView is the access rules page: the rules as loaded and, when the
// form was filled in, what verify would answer and why.
type accessView struct {
	Loaded      bool
	File        string
	Default     string
	DefaultLine int
	LoadedAt    time.Time
	Rules       []ruleView
	Form        accessForm
	Result      *accessExplanation
	Error       string
	Methods     []string
}

// accessForm is "test a URL": a request and who makes it.
type accessForm struct {
	Host, Path, Method, User string
	MFA                      bool
}

var formMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// handleAdminAccess shows the rules and explains a decision: GET with
// host, path, method, user (an email; none for a visitor signed out) and
// mfa=1 for a session made with a second factor.
func (s *Server) handleAdminAccess(c *fiber.Ctx) error {
	rules := s.rules.Load()
	v := accessView{Methods: formMethods, Form: accessForm{Host: c.Query("host"), Path: c.Query("path"),
		Method: strings.ToUpper(c.Query("method")), User: c.Query("user"), MFA: c.Query("mfa") == "1"}}
	if rules != nil {
		v.Loaded, v.File, v.Default, v.DefaultLine, v.LoadedAt = true, rules.File, rules.Default, rules.DefaultLine, rules.LoadedAt
		for _, r := range rules.Rules {
			v.Rules = append(v.Rules, r.view())
		}
	}
	status := fiber.StatusOK
	if rules != nil && (v.Form.Host != "" || v.Form.Path != "" || v.Form.User != "") {
		res, err := s.explainForm(c, rules, v.Form)
		var fe *fiber.Error
		switch {
		case err == nil:
			v.Result = &res
		case wantsJSON(c) || !errors.As(err, &fe):
			return err
		default: // the form again, with what was wrong
			status, v.Error = fe.Code, fe.Message
		}
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"loaded": v.Loaded, "file": v.File, "default": v.Default, "loadedAt": v.LoadedAt,
			"rules": nonNilRules(v.Rules), "explanation": v.Result})
	}
	return s.view(c, status, "admin/access", "", Page{Title: "Access rules", Nav: "admin-access", Data: v})
}

// explainForm checks the form and explains its request.
func (s *Server) explainForm(c *fiber.Ctx, rules *accessRules, f accessForm) (accessExplanation, error) {
	if f.Method == "" {
		f.Method = "GET"
	}
	if f.Path == "" {
		f.Path = "/"
	}
	switch mfa := c.Query("mfa"); {
	case f.Host == "" || len(f.Host) > 253:
		return accessExplanation{}, badParam("host", "want the host the proxy serves, such as app.example.com")
	case len(f.Path) > 2048 || !strings.HasPrefix(f.Path, "/"):
		return accessExplanation{}, badParam("path", "want a path starting with / (at most 2048 characters)")
	case !knownMethod(f.Method):
		return accessExplanation{}, badParam("method", "want an HTTP method such as GET or POST")
	case mfa != "" && mfa != "0" && mfa != "1":
		return accessExplanation{}, badParam("mfa", "want 1 (a session made with a second factor) or 0")
	case len(f.User) > 320:
		return accessExplanation{}, badParam("user", "want an email address")
	}
	t, ok := newAccessTarget(f.Host, f.Path, f.Method)
	if !ok {
		return accessExplanation{}, badParam("path", "cannot be read (a broken %-escape?)")
	}
	who := visitor{}
	if f.User != "" {
		u, err := models.FindUserByEmail(c.UserContext(), s.db, models.NormalizeEmail(f.User))
		if errors.Is(err, models.ErrNotFound) {
			return accessExplanation{}, fiber.NewError(fiber.StatusUnprocessableEntity, "user: no user has the email "+f.User)
		}
		if err != nil {
			return accessExplanation{}, err
		}
		who = visitor{SignedIn: true, Email: u.Email, Role: u.Role, Groups: u.GroupNames, MFA: f.MFA}
	}
	return rules.explain(t, who), nil
}

func nonNilRules(r []ruleView) []ruleView {
	if r == nil {
		return []ruleView{}
	}
	return r
}

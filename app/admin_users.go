package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// adminUser is a row of the admins' users list, in HTML and JSON alike.
type adminUser struct {
	ID              int64     `json:"id"`
	Name            string    `json:"name"`
	Email           string    `json:"email"`
	Role            string    `json:"role"`
	CreatedAt       time.Time `json:"createdAt"`
	ActiveSessions  int       `json:"activeSessions"`
	ExpiredSessions int       `json:"expiredSessions"`
	TotalSessions   int       `json:"totalSessions"`
	Disabled        bool      `json:"disabled"`
	EmailVerified   bool      `json:"emailVerified"`
	Groups          []string  `json:"groups"`
	GroupsText      string    `json:"-"` // "dev, ops", for the form
	LastSeenAt      time.Time `json:"-"` // the page's "Last seen"; zero when no session
}

func toAdminUser(u models.UserWithCounts) adminUser {
	a := adminUser{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt,
		ActiveSessions: u.ActiveSessions, ExpiredSessions: u.ExpiredSessions, TotalSessions: u.ActiveSessions + u.ExpiredSessions,
		Disabled: u.Disabled(), EmailVerified: u.EmailVerifiedAt != nil, Groups: u.Groups(), GroupsText: strings.ReplaceAll(u.GroupNames, ",", ", "), LastSeenAt: u.LastSeenAt}
	if a.Groups == nil {
		a.Groups = []string{}
	}
	return a
}

// usersQuery is what the list shows: a search and a page of it.
type usersQuery struct {
	Q     string
	Role  string // "" for any
	Page  int
	Limit int
}

// userForm is the create-user form: what was typed (never the password)
// and what was wrong with it. OOB re-renders a fresh form beside the table.
type userForm struct {
	Email, Name, Role, Error string
	Password                 string // kept after a refusal, so it need not be typed again
	Field                    string // the field the error is about
	OOB                      bool
}

type usersView struct {
	usersQuery
	Users      []adminUser
	Total      int
	TotalPages int
	PrevPage   int // 0: none
	NextPage   int // 0: none
	Now        time.Time
	SelfID     int64
	Form       userForm
	Toast      string
	ToastLink  string // a reset link the admin asked to copy
}

const maxUsersQ = 200

// parseUsersQuery reads q, page and limit; a bad value is a 400 naming it.
func parseUsersQuery(get func(string) string) (usersQuery, error) {
	uq := usersQuery{Q: get("q"), Role: get("role"), Page: 1, Limit: 20}
	if len(uq.Q) > maxUsersQ { // checkInput has refused non-UTF-8 and NUL
		return uq, badParam("q", fmt.Sprintf("must be text of at most %d characters", maxUsersQ))
	}
	if uq.Role != "" && uq.Role != models.RoleAdmin && uq.Role != models.RoleUser {
		return uq, badParam("role", "must be admin or user")
	}
	var err error
	if uq.Page, err = positiveParam(get, "page", 1, 1_000_000); err != nil {
		return uq, err
	}
	if uq.Limit, err = positiveParam(get, "limit", 20, 100); err != nil {
		return uq, err
	}
	return uq, nil
}

func positiveParam(get func(string) string, name string, def, max int) (int, error) {
	v := get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badParam(name, fmt.Sprintf("must be a whole number from 1 to %d", max))
	}
	return n, nil
}

// readUserInput reads email, name, role and password from a form or, for
// API clients, a JSON object.
func readUserInput(c *fiber.Ctx) (models.NewUser, error) {
	if !strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		return models.NewUser{Email: formValue(c, "email"), Name: formValue(c, "name"), Role: formValue(c, "role"), Password: formValue(c, "password")}, nil
	}
	var in struct{ Email, Name, Role, Password string }
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return models.NewUser{}, fiber.NewError(fiber.StatusBadRequest, "body: want a JSON object with email, name, role and password")
	}
	return models.NewUser{Email: in.Email, Name: in.Name, Role: in.Role, Password: in.Password}, nil
}

// userIDParam is the :id of a users route; unknown ids are the models' 404.
func userIDParam(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badParam("id", "must be a positive whole number")
	}
	return id, nil
}

// loadUsers fills a view with one page of the list.
func (s *Server) loadUsers(c *fiber.Ctx, uq usersQuery) (usersView, error) {
	now := s.sessions.Now()
	rows, total, err := models.ListUsersWhere(c.UserContext(), s.db, models.UserListFilter{Q: uq.Q, Role: uq.Role, Limit: uq.Limit, Offset: (uq.Page - 1) * uq.Limit}, now)
	if err != nil {
		return usersView{}, err
	}
	v := usersView{usersQuery: uq, Total: total, Now: now, Users: make([]adminUser, 0, len(rows))}
	for _, r := range rows {
		v.Users = append(v.Users, toAdminUser(r))
	}
	v.TotalPages = (total + uq.Limit - 1) / uq.Limit
	if uq.Page > 1 {
		v.PrevPage = min(uq.Page-1, max(v.TotalPages, 1))
	}
	if uq.Page < v.TotalPages {
		v.NextPage = uq.Page + 1
	}
	if sess := currentSession(c); sess != nil {
		v.SelfID = sess.UserID
	}
	v.Form.Role = models.RoleUser
	return v, nil
}

func (s *Server) handleAdminUsersList(c *fiber.Ctx) error {
	uq, err := parseUsersQuery(func(k string) string { return c.Query(k) })
	if err != nil {
		return err
	}
	v, err := s.loadUsers(c, uq)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"users": v.Users, "total": v.Total, "page": v.Page, "limit": v.Limit, "totalPages": v.TotalPages})
	}
	return s.view(c, fiber.StatusOK, "admin/users", "admin/users_table", Page{Title: "Users", Nav: "admin-users", Data: v})
}

// handleAdminUsersCreate adds an account. Bad input is shown in the form
// (422, or 409 for a taken email) with what was typed, password aside.
func (s *Server) handleAdminUsersCreate(c *fiber.Ctx) error {
	in, err := readUserInput(c)
	if err != nil {
		return err
	}
	if err := s.hashers.Acquire(c.UserContext()); err != nil {
		return err
	}
	u, err := models.CreateUser(c.UserContext(), s.db, in, s.sessions.Now())
	s.hashers.Release()
	if errors.Is(err, models.ErrConflict) {
		err = fiber.NewError(fiber.StatusConflict, "email: a user with this email already exists")
	}
	if err != nil {
		status, msg := statusOf(err)
		if status >= 500 || wantsJSON(c) {
			return err
		}
		form := userForm{Email: in.Email, Name: in.Name, Role: in.Role, Password: in.Password, Error: humanMessage(msg), Field: fieldOf(msg)}
		return s.usersFormError(c, status, form)
	}
	a := s.audit(c)
	if err := models.RecordEvent(c.UserContext(), s.db, a.Event(models.EventUserCreated, s.sessions.Now(), 0, u.ID, "role="+u.Role)); err != nil {
		s.log.WarnContext(c.UserContext(), "record user created", "error", err)
	}
	s.logAdmin(c, "admin created user", "user_id", u.ID, "role", u.Role)
	row := adminUser{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt}
	if wantsJSON(c) {
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": row})
	}
	return s.usersChanged(c, fiber.StatusCreated, fmt.Sprintf("Created %s (%s).", u.Email, u.Role), true)
}

// usersFormError shows the create form again with its error: in place for
// htmx, inside the full page otherwise.
func (s *Server) usersFormError(c *fiber.Ctx, status int, form userForm) error {
	if wantsFragment(c) {
		c.Vary("HX-Request")
		c.Set("HX-Retarget", "#user-form")
		c.Set("HX-Reswap", "outerHTML")
		return s.renderTemplate(c, status, "admin/users_form", Page{Data: usersView{Form: form}})
	}
	v, err := s.loadUsers(c, usersQuery{Page: 1, Limit: 20})
	if err != nil {
		return err
	}
	v.Form = form
	return s.view(c, status, "admin/users", "", Page{Title: "Users", Nav: "admin-users", Data: v})
}

// handleAdminUsersRole changes a role, which ends that user's sessions. An
// admin cannot change their own role, and the last admin stays an admin.
func (s *Server) handleAdminUsersRole(c *fiber.Ctx) error {
	id, err := userIDParam(c)
	if err != nil {
		return err
	}
	in, err := readUserInput(c)
	if err != nil {
		return err
	}
	role := in.Role
	u, err := models.FindUser(c.UserContext(), s.db, id)
	if err != nil {
		return err
	}
	a := s.audit(c)
	if id == a.ActorID {
		return fiber.NewError(fiber.StatusConflict, "you cannot change your own role: ask another admin")
	}
	if !models.ValidRole(role) {
		return models.Invalid("role", "must be user or admin")
	}
	ended, err := models.SetUserRole(c.UserContext(), s.db, id, role, a, s.sessions.Now())
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin changed role", "user_id", id, "role", role, "sessions_ended", ended)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"user": adminUser{ID: u.ID, Name: u.Name, Email: u.Email, Role: role, CreatedAt: u.CreatedAt}, "deleted": ended})
	}
	return s.usersChanged(c, fiber.StatusOK, fmt.Sprintf("%s is now %s; %s ended.", u.Email, role, sessionsPhrase(ended)), false)
}

// handleAdminUsersLogout ends every session of a user. An admin who signs
// themselves out everywhere is sent to the sign-in page.
func (s *Server) handleAdminUsersLogout(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	id, a := u.ID, s.audit(c)
	n, err := s.sessions.DeleteUserSessions(c.UserContext(), id, a)
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin forced logout", "user_id", id, "sessions_ended", n)
	if id == a.ActorID {
		s.clearSessionCookie(c)
	}
	switch {
	case wantsJSON(c):
		return c.JSON(fiber.Map{"userId": id, "deleted": n})
	case id == a.ActorID:
		return redirect(c, "/login")
	}
	return s.usersChanged(c, fiber.StatusOK, fmt.Sprintf("Ended every session of %s: %s.", u.Email, sessionsPhrase(n)), false)
}

// handleAdminUsersDelete removes a user; their sessions go with them. An
// admin cannot delete themselves.
func (s *Server) handleAdminUsersDelete(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	id, a := u.ID, s.audit(c)
	if id == a.ActorID {
		return fiber.NewError(fiber.StatusConflict, "you cannot delete your own account: ask another admin")
	}
	n, err := models.DeleteUser(c.UserContext(), s.db, id, a, s.sessions.Now())
	if err != nil {
		return err
	}
	s.logAdmin(c, "admin deleted user", "user_id", id, "sessions_ended", n)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"userId": id, "deleted": n})
	}
	return s.usersChanged(c, fiber.StatusOK, fmt.Sprintf("Deleted %s and %s.", u.Email, sessionsPhrase(n)), false)
}

// usersChanged answers an action: it tells the page that sessions changed,
// then sends the table (with a toast, and a fresh create form after a
// create) to htmx, or the whole page with the message to a browser.
func (s *Server) usersChanged(c *fiber.Ctx, status int, msg string, resetForm bool) error {
	c.Set("HX-Trigger", "sessions-changed")
	v, err := s.loadUsers(c, s.currentUsersQuery(c))
	if err != nil {
		return err
	}
	if !wantsFragment(c) {
		v.ToastLink, _ = c.Locals(localsResetLink).(string)
		return s.view(c, status, "admin/users", "", Page{Title: "Users", Nav: "admin-users", Flash: msg, Data: v})
	}
	c.Vary("HX-Request")
	v.Toast, v.Form.OOB = msg, resetForm
	v.ToastLink, _ = c.Locals(localsResetLink).(string)
	p := Page{CSRF: s.csrfToken(c), Data: v}
	if sess := currentSession(c); sess != nil {
		p.User, p.Session = sess.User, sess
	}
	names := []string{"admin/users_table", "admin/users_toast"}
	if resetForm {
		names = append(names, "admin/users_form")
	}
	var out bytes.Buffer
	for _, name := range names {
		if err := s.views.Render(&out, name, p); err != nil {
			return err
		}
	}
	c.Type("html", "utf-8")
	return c.Status(status).Send(out.Bytes())
}

// currentUsersQuery keeps the search and page the admin is looking at (the
// page URL htmx reports), falling back to the first page.
func (s *Server) currentUsersQuery(c *fiber.Ctx) usersQuery {
	def := usersQuery{Page: 1, Limit: 20}
	u, err := url.Parse(c.Get("HX-Current-URL"))
	if err != nil || u.Path != "/admin/users" {
		return def
	}
	uq, err := parseUsersQuery(u.Query().Get)
	if err != nil {
		return def
	}
	return uq
}

// fieldOf is the form field a "field: message" error is about.
func fieldOf(msg string) string {
	if key, _, ok := strings.Cut(msg, ": "); ok && isFieldKey(key) {
		return key
	}
	return ""
}

func sessionsPhrase(n int) string {
	if n == 1 {
		return "1 session"
	}
	return strconv.Itoa(n) + " sessions"
}

// targetUser is the user named by the route's :id (400 when malformed,
// 404 when unknown).
func (s *Server) targetUser(c *fiber.Ctx) (*models.User, error) {
	id, err := userIDParam(c)
	if err != nil {
		return nil, err
	}
	return models.FindUser(c.UserContext(), s.db, id)
}

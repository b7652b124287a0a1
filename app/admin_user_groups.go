package app

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// handleAdminUsersGroups replaces a user's groups: a form's groups field
// ("ops, dev") or a JSON body {"groups": ["ops", "dev"]}. Sessions stay;
// forward-auth sees the new groups on their next request.
func (s *Server) handleAdminUsersGroups(c *fiber.Ctx) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	names, err := readGroupsInput(c)
	if err != nil {
		return err
	}
	if u.GroupNames, err = models.SetUserGroups(c.UserContext(), s.db, u.ID, names, s.audit(c), s.sessions.Now()); err != nil {
		return err
	}
	s.logAdmin(c, "admin set groups", "user_id", u.ID, "groups", u.GroupNames)
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"user": toAdminUser(models.UserWithCounts{User: *u})})
	}
	return s.usersChanged(c, fiber.StatusOK, fmt.Sprintf("Groups of %s: %s.", u.Email, groupsPhrase(u.GroupNames)), false)
}

func readGroupsInput(c *fiber.Ctx) ([]string, error) {
	if !strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		return strings.Split(formValue(c, "groups"), ","), nil
	}
	var in struct {
		Groups []string `json:"groups"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil || in.Groups == nil {
		return nil, fiber.NewError(fiber.StatusBadRequest, `body: want a JSON object {"groups": ["ops", "dev"]} ([] for none)`)
	}
	return in.Groups, nil
}

func groupsPhrase(stored string) string {
	if stored == "" {
		return "none"
	}
	return strings.ReplaceAll(stored, ",", ", ")
}

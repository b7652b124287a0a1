package models

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Groups lists the user's groups, sorted; nil for none.
func (u *User) Groups() []string {
	if u.GroupNames == "" {
		return nil
	}
	return strings.Split(u.GroupNames, ",")
}

// validGroupName is a group's form: lower-case letters, digits and . _ -,
// so a comma-separated list (the Remote-Groups header) stays unambiguous.
var validGroupName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidGroupName reports whether name can be a group.
func ValidGroupName(name string) bool { return validGroupName.MatchString(name) }

// MaxGroups bounds how many groups a user may have.
const MaxGroups = 50

// NormalizeGroups trims, lower-cases, sorts and de-duplicates names and
// checks each, returning the stored form ("dev,ops").
func NormalizeGroups(names []string) (string, error) {
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		if !ValidGroupName(n) {
			return "", Invalid("groups", "%q is not a group name: use lower-case letters, digits, '.', '_' or '-' (at most 64)", clip(n, 70))
		}
		out = append(out, n)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxGroups {
		return "", Invalid("groups", "at most 50 groups")
	}
	return strings.Join(out, ","), nil
}

// SetUserGroups replaces the user's groups and returns them as stored.
// Sessions stay; their cached copies are dropped on every instance, so
// forward-auth sees the new groups on the next request.
func SetUserGroups(ctx context.Context, db *DB, id int64, names []string, a Audit, now time.Time) (string, error) {
	groups, err := NormalizeGroups(names)
	if err != nil {
		return "", err
	}
	err = db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		res, err := tx.NewUpdate().Model((*User)(nil)).Set("group_names = ?", groups).Set("updated_at = ?", now).
			Where("id = ?", id).Exec(ctx)
		if err := affectedOne(res, err, "set groups"); err != nil {
			return nil, err
		}
		return []string{userMsg(id)}, RecordEvent(ctx, tx, a.event(EventUserGroupsChanged, now, 0, id, "groups="+groups))
	})
	if err != nil {
		return "", Wrap(err, "set groups")
	}
	return groups, nil
}

package app

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

const (
	defaultLimit = 20
	maxQueryLen  = 200
)

// sessionQuery is the admin list's parsed query string.
type sessionQuery struct {
	Q         string
	UserID    int64
	Status    string
	Limit     int
	Page      int
	Sort      models.SessionSort
	Cursor    *models.SessionCursor
	CursorRaw string
	At        int // the first row's position, carried by the pager for "21–40 of N"
}

// parseSessionQuery reads page, limit, userId, status, q, sort and cursor; a bad
// value is a 400 that names its parameter. Empty values mean "not set", so
// a filter form may send every field.
func parseSessionQuery(c *fiber.Ctx) (sessionQuery, error) {
	q := sessionQuery{Limit: defaultLimit, Page: 1, Status: models.StatusAll, Sort: models.DefaultSessionSort}
	if v := c.Query("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return q, badParam("page", "must be a whole number from 1")
		}
		q.Page = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > models.MaxSessionListLimit {
			return q, badParam("limit", "must be a whole number from 1 to 100")
		}
		q.Limit = n
	}
	if v := c.Query("userId"); v != "" {
		id, err := positiveID("userId", v)
		if err != nil {
			return q, err
		}
		q.UserID = id
	}
	switch v := c.Query("status"); v {
	case "", models.StatusAll:
	case models.StatusActive, models.StatusExpired:
		q.Status = v
	default:
		return q, badParam("status", "must be all, active or expired")
	}
	q.Q = strings.TrimSpace(c.Query("q"))
	if len(q.Q) > maxQueryLen { // checkInput has refused non-UTF-8 and NUL
		return q, badParam("q", "must be text of at most 200 characters")
	}
	if v := c.Query("at"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return q, badParam("at", "must be a whole number from 1")
		}
		q.At = n
	}
	sort, ok := models.ParseSessionSort(c.Query("sort"))
	if !ok {
		return q, badParam("sort", "must be created, last_seen or expires, with a leading - for newest first")
	}
	q.Sort = sort
	if v := c.Query("cursor"); v != "" {
		cur, err := models.DecodeSessionCursor(v)
		if err != nil {
			return q, badParam("cursor", "is not a cursor this server issued; start from the first page")
		}
		if cur.Sort != q.Sort {
			return q, badParam("cursor", "belongs to another sort order; start from the first page")
		}
		q.Cursor, q.CursorRaw = &cur, v
	}
	return q, nil
}

func (q sessionQuery) filter() models.SessionFilter {
	return models.SessionFilter{UserID: q.UserID, Q: q.Q, Status: q.Status, Limit: q.Limit, Page: q.Page, Cursor: q.Cursor, Sort: q.Sort}
}

// mutation is what DELETE and POST /admin/sessions read: a form body,
// a JSON body, or (for API clients) the query string.
type mutation struct {
	SessionToken string
	ID           string
	IDs          []string // every id given, when more than one (the list's "End selected")
	UserID       string
	Action       string
}

func readMutation(c *fiber.Ctx) (mutation, error) {
	var m mutation
	if strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) && len(c.Body()) > 0 {
		var raw map[string]any
		if err := json.Unmarshal(c.Body(), &raw); err != nil {
			return m, fiber.NewError(fiber.StatusBadRequest, "body: not valid JSON")
		}
		m.SessionToken, m.ID, m.UserID, m.Action = jsonText(raw["sessionToken"]), jsonText(raw["id"]), jsonText(raw["userId"]), jsonText(raw["action"])
	} else {
		get := func(name string) string {
			if v := formValue(c, name); v != "" {
				return v
			}
			return c.Query(name)
		}
		m.SessionToken, m.ID, m.UserID, m.Action = get("sessionToken"), get("id"), get("userId"), get("action")
		var ids []string
		for _, v := range append(c.Request().PostArgs().PeekMulti("id"), c.Context().QueryArgs().PeekMulti("id")...) {
			ids = append(ids, string(v))
		}
		if len(ids) > models.MaxSessionListLimit {
			return m, badParam("id", "at most 100 at once")
		}
		if len(ids) > 1 {
			m.IDs = ids
		}
	}
	for name, v := range map[string]string{"sessionToken": m.SessionToken, "id": m.ID, "userId": m.UserID, "action": m.Action} {
		if len(v) > 256 {
			return m, badParam(name, "is not a valid value")
		}
	}
	return m, nil
}

// jsonText accepts a JSON string or an integral number.
func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// SortURL is this list ordered by key (created, last_seen or expires),
// keeping the other filters: descending first, the other way round when it
// already is; expiry starts with the soonest.
func (q sessionQuery) SortURL(key string) string {
	next := models.SessionSort("-" + key)
	if key == "expires" {
		next = models.SessionSort(key)
	}
	if q.Sort.Key() == key {
		next = models.SessionSort(key)
		if !q.Sort.Desc() {
			next = models.SessionSort("-" + key)
		}
	}
	q.Sort, q.Page, q.At = next, 1, 0
	return q.url("")
}

// SortState is the aria-sort value of key's column header, empty when the
// list is not ordered by it.
func (q sessionQuery) SortState(key string) string {
	switch {
	case q.Sort.Key() != key:
		return ""
	case q.Sort.Desc():
		return "descending"
	}
	return "ascending"
}

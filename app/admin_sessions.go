package app

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// sessionsView is the data of the admin sessions page and its fragments.
type sessionsView struct {
	Filter    sessionQuery
	List      *models.SessionList
	Stats     *models.SessionStats
	Counts    statCounts
	Now       time.Time
	CurrentID int64  // the admin's own session, marked in the table
	SelfURL   string // this list with its filters, for reloads
	NextURL   string
	PrevURL   string
	From, To  string // the rows' positions in the whole list
	Everyone  string // these filters without the user
	UserName  string // the filtered user, as the note names them
	Total     string // formatted
	Limits    []int
}

// statsView is the data of the counts fragment.
type statsView struct {
	Stats  *models.SessionStats
	Counts statCounts
	Now    time.Time
}

// statCounts are the counts as people read them ("1,204,331").
type statCounts struct{ Active, Expired, Expiring, Users string }

func countsOf(st *models.SessionStats) statCounts {
	return statCounts{thousands(st.Active), thousands(st.Expired), thousands(st.ExpiringWithin24h), thousands(st.UsersWithSessions)}
}

// handleAdminSessions lists sessions: the page, the #sessions-table
// fragment for htmx (filters and pager push their URL), or JSON.
func (s *Server) handleAdminSessions(c *fiber.Ctx) error {
	q, err := parseSessionQuery(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	now := s.sessions.Now()
	list, err := s.listSessions(ctx, q.filter(), now)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(sessionListJSON(list, q, now))
	}
	v := &sessionsView{
		Filter: q, List: list, Now: now, CurrentID: currentSession(c).ID,
		SelfURL: q.url(q.CursorRaw), Total: thousands(list.Total), Limits: []int{20, 50, 100},
	}
	if q.UserID != 0 {
		everyone := q
		everyone.UserID, everyone.Page, everyone.At = 0, 1, 0
		v.Everyone = everyone.url("")
		v.UserName = s.userLabel(ctx, q.UserID)
	}
	start := q.At
	if start == 0 || q.Cursor == nil {
		start = (q.Page-1)*q.Limit + 1
	}
	v.From, v.To = thousands(start), thousands(start+len(list.Sessions)-1)
	if list.Next != nil {
		next := q
		next.At = start + len(list.Sessions)
		v.NextURL = next.url(list.Next.Encode())
	}
	if list.Prev != nil {
		prev := q
		prev.At = max(1, start-q.Limit)
		v.PrevURL = prev.url(list.Prev.Encode())
	}
	if !wantsFragment(c) {
		if v.Stats, err = s.sessionStats(ctx, now); err != nil {
			return err
		}
		v.Counts = countsOf(v.Stats)
	}
	return s.view(c, fiber.StatusOK, "admin/sessions", "admin/sessions_table",
		Page{Title: "Sessions", Nav: "admin-sessions", Data: v})
}

// handleAdminSessionStats is the live counts: a fragment polled every 10 s
// and on every sessions-changed event, or JSON.
func (s *Server) handleAdminSessionStats(c *fiber.Ctx) error {
	now := s.sessions.Now()
	st, err := s.sessionStats(c.UserContext(), now)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(statsJSON(st))
	}
	return s.view(c, fiber.StatusOK, "admin/sessions_stats_page", "admin/sessions_stats",
		Page{Title: "Session counts", Nav: "admin-sessions", Data: &statsView{Stats: st, Counts: countsOf(st), Now: now}})
}

// handleAdminSessionDelete ends sessions by raw sessionToken, by id, or all
// of a user's by userId (the seed's DELETE), answering {deleted: n}. A
// token no session has and a user who does not exist are 404, like an
// unknown id: {deleted: 0} would tell a script its delete did nothing.
func (s *Server) handleAdminSessionDelete(c *fiber.Ctx) error {
	in, err := readMutation(c)
	if err != nil {
		return err
	}
	ctx, a := c.UserContext(), s.audit(c)
	me := currentSession(c)
	var n int
	var self bool
	switch {
	case in.SessionToken != "":
		self = models.HashToken(in.SessionToken) == me.TokenHash
		n, err = s.sessions.RevokeToken(ctx, in.SessionToken, a)
		if errors.Is(err, models.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "sessionToken: no session has this token (it takes the raw token; the list shows only a prefix of its hash, so delete by id)")
		}
		s.logAdmin(c, "admin revoked session by token", "sessions_ended", n)
	case in.ID != "":
		n, self, err = s.endSessions(ctx, in, me.ID, a)
		if in.IDs != nil {
			c.Append("HX-Trigger", "sessions-reload")
		}
		s.logAdmin(c, "admin revoked session", "session_id", in.ID, "sessions_ended", n)
	case in.UserID != "":
		uid, perr := positiveID("userId", in.UserID)
		if perr != nil {
			return perr
		}
		self = uid == me.UserID
		n, err = s.sessions.DeleteUserSessions(ctx, uid, a)
		if errors.Is(err, models.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "userId: no such user")
		}
		c.Append("HX-Trigger", "sessions-reload")
		s.logAdmin(c, "admin forced logout", "user_id", uid, "sessions_ended", n)
	default:
		return badParam("sessionToken", "give sessionToken, id or userId")
	}
	if err != nil {
		return err
	}
	return s.afterDelete(c, n, self && n > 0, "")
}

// endSessions ends the sessions named by id: one, or several at once, of
// which any already gone are skipped. self reports the caller's own.
func (s *Server) endSessions(ctx context.Context, in mutation, mine int64, a models.Audit) (n int, self bool, err error) {
	ids := in.IDs
	if ids == nil {
		ids = []string{in.ID}
	}
	parsed := make([]int64, 0, len(ids))
	for _, v := range ids {
		id, err := positiveID("id", v)
		if err != nil {
			return 0, false, err
		}
		parsed = append(parsed, id)
	}
	for _, id := range parsed {
		_, err := s.sessions.DeleteSessionByID(ctx, id, models.EventSessionRevoked, a)
		if isNotFound(err) && len(parsed) > 1 {
			continue
		}
		if err != nil {
			return n, self, err
		}
		n++
		self = self || id == mine
	}
	return n, self, nil
}

// handleAdminSessionDeleteOne ends one session; the list reloads without it.
func (s *Server) handleAdminSessionDeleteOne(c *fiber.Ctx) error {
	id, err := positiveID("id", c.Params("id"))
	if err != nil {
		return err
	}
	if _, err := s.sessions.DeleteSessionByID(c.UserContext(), id, models.EventSessionRevoked, s.audit(c)); err != nil {
		return err
	}
	s.logAdmin(c, "admin revoked session", "session_id", id)
	// The list reloads too, so its range and count follow. (Not after the
	// settle: by then the button that would carry the event has gone.)
	c.Append("HX-Trigger", "sessions-reload")
	return s.afterDelete(c, 1, id == currentSession(c).ID, "")
}

// handleAdminSessionAction runs action=cleanup: a cleanup now, through
// the same path as the cleanup page's button.
func (s *Server) handleAdminSessionAction(c *fiber.Ctx) error {
	in, err := readMutation(c)
	if err != nil {
		return err
	}
	if in.Action != "cleanup" {
		return badParam("action", "must be cleanup")
	}
	res, done, err := s.startCleanup(c)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return cleanupJSON(c, res, done, fiber.Map{"deleted": res.Deleted})
	}
	c.Append("HX-Trigger", "sessions-reload")
	return s.afterDelete(c, res.Deleted, false, cleanupMessage(res, done, "Removed "+plural(res.Deleted, "expired session")))
}

// afterDelete answers a mutation: {deleted: n} for API clients; for htmx
// an empty body (a row target disappears), a toast out of band and the
// sessions-changed event so counts refresh. Ending the admin's own
// session signs them out: cookie cleared, sent to /login.
func (s *Server) afterDelete(c *fiber.Ctx, n int, self bool, msg string) error {
	if self {
		s.clearSessionCookie(c)
	}
	if wantsJSON(c) {
		return c.JSON(fiber.Map{"deleted": n})
	}
	if self {
		return redirect(c, "/login")
	}
	if !isHTMX(c) || c.Get("HX-Target") == "session-detail" {
		return redirect(c, "/admin/sessions") // the page showed what has gone
	}
	if msg == "" {
		msg = "Ended " + plural(n, "session")
	}
	c.Append("HX-Trigger", "sessions-changed")
	return s.renderTemplate(c, fiber.StatusOK, "admin/sessions_toast", Page{Data: msg})
}

// sessionJSON is DESIGN.md's session shape; sessionToken is the short hash.
func sessionJSON(ss *models.Session, now time.Time) fiber.Map {
	status, expiresIn := models.StatusActive, int64(ss.ExpiresAt.Sub(now).Seconds())
	if ss.Expired(now) {
		status, expiresIn = models.StatusExpired, 0
	}
	m := fiber.Map{
		"id": ss.ID, "sessionToken": ss.ShortHash(), "userId": ss.UserID, "user": nil,
		"createdAt": ss.CreatedAt.UTC(), "lastSeenAt": ss.LastSeenAt.UTC(), "expires": ss.ExpiresAt.UTC(),
		"expiresIn": expiresIn, "status": status, "ip": ss.IP, "userAgent": ss.UserAgent,
		"amr": ss.AMR.List(), "strongAt": timeOrNil(ss.StrongAt), "provider": stringOrNil(ss.Provider),
		"country": ss.Country, "city": ss.City, "signInFlags": flagList(ss.Flags),
	}
	if ss.User != nil {
		m["user"] = userJSON(ss.User)
	}
	return m
}

func sessionListJSON(l *models.SessionList, q sessionQuery, now time.Time) fiber.Map {
	out := make([]fiber.Map, len(l.Sessions))
	for i := range l.Sessions {
		out[i] = sessionJSON(&l.Sessions[i], now)
	}
	m := fiber.Map{
		"sessions": out, "page": q.Page, "limit": q.Limit, "total": l.Total, "totalIsEstimate": l.TotalIsEstimate,
		"totalPages": (l.Total + q.Limit - 1) / q.Limit,
	}
	if q.Cursor != nil {
		m["page"] = nil // a keyset page has no number
	}
	if l.Next != nil {
		m["nextCursor"] = l.Next.Encode()
	}
	if l.Prev != nil {
		m["prevCursor"] = l.Prev.Encode()
	}
	return m
}

func statsJSON(st *models.SessionStats) fiber.Map {
	m := fiber.Map{
		"active": st.Active, "expired": st.Expired, "expiringWithin24h": st.ExpiringWithin24h,
		"usersWithSessions": st.UsersWithSessions, "total": st.Active + st.Expired, "lastCleanup": nil,
	}
	if lc := st.LastCleanup; lc != nil {
		m["lastCleanup"] = fiber.Map{
			"trigger": lc.Trigger, "startedAt": lc.StartedAt.UTC(), "finishedAt": lc.FinishedAt,
			"deleted": lc.Deleted, "error": lc.Error,
		}
	}
	return m
}

// ForUser is this list narrowed to one user, keeping the other filters
// (the row's name link).
func (q sessionQuery) ForUser(id int64) string {
	q.UserID, q.Page, q.At = id, 1, 0
	return q.url("")
}

// userLabel names a filtered user for the note above the list; a user
// that no longer exists is named by id.
func (s *Server) userLabel(ctx context.Context, id int64) string {
	u, err := models.FindUser(ctx, s.db.Read, id)
	if err != nil {
		return "user #" + itoa(id)
	}
	return u.Name + " (" + u.Email + ")"
}

// url is this list's address at cursor (empty: at its page number).
func (q sessionQuery) url(cursor string) string {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.UserID != 0 {
		v.Set("userId", itoa(q.UserID))
	}
	if q.Status != "" && q.Status != models.StatusAll {
		v.Set("status", q.Status)
	}
	if q.Sort != models.DefaultSessionSort && q.Sort != "" {
		v.Set("sort", string(q.Sort))
	}
	if q.Limit != defaultLimit {
		v.Set("limit", itoa(int64(q.Limit)))
	}
	if cursor != "" {
		v.Set("cursor", cursor)
		if q.At > 1 {
			v.Set("at", itoa(int64(q.At)))
		}
	} else if q.Page > 1 {
		v.Set("page", itoa(int64(q.Page)))
	}
	if len(v) == 0 {
		return "/admin/sessions"
	}
	return "/admin/sessions?" + v.Encode()
}

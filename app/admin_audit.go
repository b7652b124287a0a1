package app

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// auditQuery is the audit filter as the request gave it (for the form and
// the links) and as parsed (for the query).
type auditQuery struct {
	UserID, User, Kind, From, To, Limit string
	filter                              models.EventFilter
}

// values is the filter as a query string, without the cursor.
func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"userId": q.UserID, "user": q.User, "kind": q.Kind, "from": q.From, "to": q.To, "limit": q.Limit} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// parseAuditQuery reads userId, user (an id or an email, for people),
// kind, from, to (a UTC date, inclusive, or an RFC 3339 instant), limit and
// cursor; bad input is a 400 naming the parameter.
func parseAuditQuery(c *fiber.Ctx) (auditQuery, error) {
	q := auditQuery{UserID: c.Query("userId"), User: strings.TrimSpace(c.Query("user")), Kind: c.Query("kind"), From: c.Query("from"), To: c.Query("to"), Limit: c.Query("limit")}
	f := &q.filter
	if q.User != "" && q.UserID == "" {
		if id, err := strconv.ParseInt(q.User, 10, 64); err == nil && id > 0 {
			f.UserID = id
		} else if !strings.Contains(q.User, "@") || len(q.User) > 254 {
			return q, badParam("user", "must be an email address or a user id")
		}
	}
	if q.UserID != "" {
		id, err := strconv.ParseInt(q.UserID, 10, 64)
		if err != nil || id <= 0 {
			return q, badParam("userId", "must be a positive integer")
		}
		f.UserID = id
	}
	if q.Kind != "" && !models.ValidEventKind(q.Kind) {
		return q, badParam("kind", "must be one of "+strings.Join(models.EventKinds, ", "))
	}
	f.Kind = q.Kind
	var err error
	if f.From, err = parseAuditTime(q.From, false); err != nil {
		return q, badParam("from", err.Error())
	}
	if f.To, err = parseAuditTime(q.To, true); err != nil {
		return q, badParam("to", err.Error())
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return q, badParam("to", "must be after from")
	}
	if q.Limit != "" {
		n, err := strconv.Atoi(q.Limit)
		if err != nil || n < 1 || n > models.MaxEventLimit {
			return q, badParam("limit", fmt.Sprintf("must be an integer from 1 to %d", models.MaxEventLimit))
		}
		f.Limit = n
	}
	if cur := c.Query("cursor"); cur != "" {
		if f.After, err = models.ParseEventCursor(cur); err != nil {
			return q, badParam("cursor", "is not a cursor this server issued")
		}
	}
	return q, nil
}

// readAuditQuery is parseAuditQuery with the form's user field resolved:
// an email names an existing account.
func (s *Server) readAuditQuery(c *fiber.Ctx) (auditQuery, error) {
	q, err := parseAuditQuery(c)
	if err != nil || q.User == "" || q.UserID != "" || q.filter.UserID != 0 {
		return q, err
	}
	u, err := models.FindUserByEmail(c.UserContext(), s.db.Read, models.NormalizeEmail(q.User))
	if isNotFound(err) {
		return q, badParam("user", "no account has the email "+q.User)
	}
	if err != nil {
		return q, err
	}
	q.filter.UserID = u.ID
	return q, nil
}

// parseAuditTime takes a date (YYYY-MM-DD, a UTC day) or an RFC 3339
// instant. A date as the end of a range means the end of that day.
func parseAuditTime(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("must be a date (YYYY-MM-DD) or an RFC 3339 time")
	}
	return t.UTC(), nil
}

type auditView struct {
	Query      auditQuery
	Error      string // a filter that could not be read, said in place of the rows
	Kinds      []string
	Limits     []string
	Events     []models.AuditEvent
	NextURL    string
	FirstURL   string // set when this is not the first page
	CSVURL     string
	NextCursor string
}

// handleAuditList is the audit trail: newest first, filtered, keyset-paged.
func (s *Server) handleAuditList(c *fiber.Ctx) error {
	q, err := s.readAuditQuery(c)
	if err != nil {
		var fe *fiber.Error
		if wantsJSON(c) || !errors.As(err, &fe) {
			return err
		}
		// The list says what is wrong in place of rows that would not
		// match the form.
		v := auditView{Query: q, Error: humanMessage(fe.Message), Kinds: models.EventKinds, Limits: auditLimits}
		return s.view(c, fe.Code, "admin/audit", "admin/audit_table", Page{Title: "Audit trail", Nav: "admin-audit", Data: v})
	}
	events, next, err := models.ListEvents(c.UserContext(), s.db, q.filter)
	if err != nil {
		return err
	}
	limit := q.filter.Limit
	if limit == 0 {
		limit = models.DefaultEventLimit
	}
	if events == nil {
		events = []models.AuditEvent{}
	}
	if wantsJSON(c) {
		out := fiber.Map{"events": events, "limit": limit}
		if next != nil {
			out["nextCursor"] = next.String()
		}
		return c.JSON(out)
	}
	v := auditView{Query: q, Kinds: models.EventKinds, Limits: auditLimits, Events: events}
	base := q.values()
	if isHTMX(c) && c.Query("cursor") == "" {
		// The address bar gets the filters that are set, not every field.
		c.Set("HX-Push-Url", "/admin/audit?"+base.Encode())
	}
	v.CSVURL = "/admin/audit.csv?" + base.Encode()
	if q.filter.After != nil {
		v.FirstURL = "/admin/audit?" + base.Encode()
	}
	if next != nil {
		v.NextCursor = next.String()
		nv := q.values()
		nv.Set("cursor", v.NextCursor)
		v.NextURL = "/admin/audit?" + nv.Encode()
	}
	return s.view(c, fiber.StatusOK, "admin/audit", "admin/audit_table", Page{Title: "Audit trail", Nav: "admin-audit", Data: v})
}

// auditLimits are the page sizes the form offers.
var auditLimits = []string{"20", "50", "100", "200"}

// csvHeader is the export's first row.
var csvHeader = []string{"id", "at", "kind", "user_id", "user_email", "actor_id", "actor_email", "session_id", "ip", "user_agent", "detail"}

// handleAuditCSV exports every event of the filtered view (the cursor and
// limit only choose where it starts and how big each read is), streamed in
// keyset pages so a large export never sits in memory.
func (s *Server) handleAuditCSV(c *fiber.Ctx) error {
	q, err := s.readAuditQuery(c)
	if err != nil {
		return err
	}
	f := q.filter
	f.Limit = models.MaxEventLimit
	ctx := c.UserContext()
	first, next, err := models.ListEvents(ctx, s.db, f)
	if err != nil {
		return err
	}
	s.logAdmin(c, "audit exported", "user_filter", f.UserID, "kind", f.Kind)
	name := "sessiond-audit-" + s.sessions.Now().Format("20060102-150405") + ".csv"
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		w := csv.NewWriter(bw)
		_ = w.Write(csvHeader)
		rows := first
		for {
			for i := range rows {
				_ = w.Write(csvRecord(&rows[i]))
			}
			w.Flush()
			if next == nil || w.Error() != nil {
				return
			}
			f.After = next
			if rows, next, err = models.ListEvents(ctx, s.db, f); err != nil {
				// The status is sent already: end the file visibly short.
				s.log.ErrorContext(ctx, "audit export failed", "error", err)
				_ = w.Write([]string{"# export incomplete: internal error"})
				w.Flush()
				return
			}
		}
	})
	return nil
}

func csvRecord(e *models.AuditEvent) []string {
	id := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	return []string{
		strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), csvSafe(e.Kind),
		id(e.UserID), csvSafe(e.UserEmail), id(e.ActorID), csvSafe(e.ActorEmail), id(e.SessionID),
		csvSafe(e.IP), csvSafe(e.UserAgent), csvSafe(e.Detail),
	}
}

// csvSafe defuses spreadsheet formulas (CSV injection): a cell starting
// with = + - @ (or a tab or carriage return) gets a leading apostrophe.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

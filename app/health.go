package app

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// handleHealthz: the process is up (no database call).
func (s *Server) handleHealthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(healthzBody)
}

// healthzBody never changes, so it is not encoded per request.
var healthzBody = []byte(`{"status":"ok"}`)

// handleReadyz: the database answers.
func (s *Server) handleReadyz(c *fiber.Ctx) error {
	if err := s.db.Ping(c.UserContext()); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// handleMe is the minimal authenticated route: who is signed in, and until
// when. It runs on every request of a client polling its session, so its
// answer is appended by hand (what encoding/json would write, in a third
// of the time); TestMeJSON_MatchesEncodingJSON holds the two together.
func (s *Server) handleMe(c *fiber.Ctx) error {
	sess := currentSession(c)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	var buf [256]byte // on the stack: SetBody copies it into the response's pooled buffer
	c.Response().SetBody(appendMeJSON(buf[:0], sess, s.sessions.Now()))
	return nil
}

func appendMeJSON(b []byte, sess *models.Session, now time.Time) []byte {
	u := sess.User
	b = append(b, `{"user":{"id":`...)
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, u.Name)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, u.Email)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, u.Role)
	b = append(b, `},"sessionId":`...)
	b = strconv.AppendInt(b, sess.ID, 10)
	b = append(b, `,"expires":"`...)
	b = sess.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","expiresIn":`...)
	b = strconv.AppendInt(b, int64(sess.ExpiresAt.Sub(now).Seconds()), 10)
	b = append(b, `,"amr":[`...)
	for i, m := 0, string(sess.AMR); m != ""; i++ { // no slice: this runs per request
		var method string
		method, m, _ = strings.Cut(m, ",")
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, method)
	}
	return append(b, "]}"...)
}

// appendJSONString appends s as encoding/json writes a string: quoted,
// with <, > and & as \u escapes, control characters escaped, U+2028 and
// U+2029 escaped, and invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy each run of bytes that need no escape in one append: names
		// and emails are almost all such bytes, and appending them one by
		// one was a tenth of the CPU of a cached /api/me.
		j := i
		for j < len(s) && plainJSONByte(s[j]) {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			default: // other control characters, '<', '>', '&'
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// plainJSONByte reports whether appendJSONString copies c as it is.
func plainJSONByte(c byte) bool {
	return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

package app

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// checkInput is the one check every text input passes before anything
// reads it: each query parameter, form field (urlencoded or multipart),
// JSON string (keys and values, at any depth) and the User-Agent (stored
// with sessions and events) must be valid UTF-8 without NUL. PostgreSQL
// refuses invalid UTF-8, and bun turns a string holding NUL into SQL that
// does not parse, so either would otherwise be a 500; here it is a 400
// naming the field, before any query.
func checkInput(c *fiber.Ctx) error {
	if err := checkText(c); err != nil {
		return err
	}
	return c.Next()
}

// checkText is checkInput's check, on its own.
func checkText(c *fiber.Ctx) error {
	if !cleanText(c.Request().Header.UserAgent()) {
		return badInput(fiber.HeaderUserAgent)
	}
	var bad error
	visit := func(k, v []byte) {
		if bad == nil && (!cleanText(k) || !cleanText(v)) {
			bad = badInput(fieldName(k))
		}
	}
	c.Request().URI().QueryArgs().VisitAll(visit)
	if bad != nil {
		return bad
	}
	ct := string(c.Request().Header.ContentType())
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		c.Request().PostArgs().VisitAll(visit)
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		if form, err := c.MultipartForm(); err == nil {
			for k, vs := range form.Value {
				for _, v := range vs {
					visit([]byte(k), []byte(v))
				}
			}
		}
	case strings.HasPrefix(ct, fiber.MIMEApplicationJSON):
		bad = checkJSON(c.Body())
	}
	return bad
}

// checkJSON checks every string of a JSON body. A body that is not JSON
// is left to its handler, which says so.
func checkJSON(body []byte) error {
	if len(body) == 0 {
		return nil
	}
	if !utf8.Valid(body) {
		return badInput("body")
	}
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil // no NUL can hide in it: raw control bytes are not JSON
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	return walkJSON(v, "")
}

func walkJSON(v any, name string) error {
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return badInput(fieldName([]byte(name)))
		}
	case []any:
		for _, e := range x {
			if err := walkJSON(e, name); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 {
				return badInput(fieldName([]byte(k)))
			}
			if err := walkJSON(e, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func cleanText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

// fieldName is a field's name for the message, when it is fit to show.
func fieldName(k []byte) string {
	if len(k) == 0 || len(k) > 64 || !cleanText(k) {
		return "a field name"
	}
	return string(k)
}

// badInput names the field first, as every 400 about a parameter does.
func badInput(name string) error {
	return fiber.NewError(fiber.StatusBadRequest, name+": must be UTF-8 text without NUL characters")
}

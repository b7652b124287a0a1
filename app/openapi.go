package app

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// The OpenAPI 3.1 document is built from apiOps, the one list of JSON
// operations, so /api/openapi.json and the /api/docs page cannot disagree;
// the test suite validates every JSON answer it receives against it.

// apiOp is one JSON operation.
type apiOp struct {
	Method, Path, Summary string
	Auth                  string // who may call it: see authNotes
	Params                []apiParam
	Body                  string         // the request body's schema ("" none)
	OK                    map[int]string // success status → response schema ("" no body)
	Errors                []int
}

type apiParam struct {
	Name, In, Type, Desc string
	Required             bool
}

// authNotes say in words what each Auth value means.
var authNotes = map[string]string{
	"":        "No credentials.",
	"user":    "A signed-in user: the session cookie (state changes also need the X-CSRF-Token header), a session token, or an API token where a scope is named.",
	"admin":   "An admin: the session cookie with X-CSRF-Token on state changes, or an admin's API token with the named scope.",
	"cookie":  "A browser session (cookie and X-CSRF-Token); API tokens are refused.",
	"pending": "A sign-in in progress (its cookie) and the CSRF token.",
}

func pathParam(name, desc string) apiParam {
	return apiParam{Name: name, In: "path", Type: "string", Desc: desc, Required: true}
}

func idParam(desc string) apiParam {
	return apiParam{Name: "id", In: "path", Type: "integer", Desc: desc, Required: true}
}

func query(name, typ, desc string) apiParam {
	return apiParam{Name: name, In: "query", Type: typ, Desc: desc}
}

// openAPIPath turns a Fiber path (/users/:id) into an OpenAPI one (/users/{id}).
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func ref(schema string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + schema}
}

// openAPIDocument is the whole document as JSON.
func openAPIDocument() ([]byte, error) {
	paths := map[string]map[string]any{}
	for _, op := range apiOps {
		p := openAPIPath(op.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(op.Method)] = op.document()
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "sessiond", "version": "1",
			"description": "Sessions, users and audit for scripts. Every JSON error is {\"error\": \"...\"}. " +
				"Authenticate with the session cookie (state changes need X-CSRF-Token), or Authorization: Bearer with an API token (sdt_…, within its scopes) or a session token from POST /api/sessions (on /api/me, /auth/verify and DELETE /api/sessions/current)."},
		"paths":    paths,
		"webhooks": webhookDocs(),
		"components": map[string]any{
			"schemas": apiSchemas(),
			"securitySchemes": map[string]any{
				"cookie": map[string]any{"type": "apiKey", "in": "cookie", "name": "sessiond_session"},
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API token (sdt_…) or a session token"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// webhookDocs describes what sessiond posts to endpoints: one operation
// per event type, all with the WebhookEvent body.
func webhookDocs() map[string]any {
	out := map[string]any{}
	for _, t := range models.WebhookTypes {
		out[t] = map[string]any{"post": map[string]any{
			"summary": "The " + t + " event, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)",
			"parameters": []map[string]any{
				{"name": "webhook-id", "in": "header", "required": true, "schema": str, "description": "the same on every attempt"},
				{"name": "webhook-timestamp", "in": "header", "required": true, "schema": integer, "description": "seconds since the epoch"},
				{"name": "webhook-signature", "in": "header", "required": true, "schema": str,
					"description": "v1, and base64 HMAC-SHA256 of id.timestamp.body under the secret's key"},
			},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref("WebhookEvent")}}},
			"responses":   map[string]any{"2XX": map[string]any{"description": "Delivered; anything else is retried"}},
		}}
	}
	return out
}

func (op apiOp) document() map[string]any {
	d := map[string]any{"summary": op.Summary, "description": authNotes[op.Auth], "operationId": operationID(op)}
	if op.Auth != "" && op.Auth != "pending" {
		sec := []map[string][]string{{"cookie": {}}}
		if op.Auth != "cookie" {
			sec = append(sec, map[string][]string{"bearer": {}})
		}
		d["security"] = sec
	}
	var params []map[string]any
	for _, p := range op.Params {
		params = append(params, map[string]any{"name": p.Name, "in": p.In, "required": p.Required,
			"description": p.Desc, "schema": map[string]any{"type": p.Type}})
	}
	if params != nil {
		d["parameters"] = params
	}
	if op.Body != "" {
		d["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json":                  map[string]any{"schema": ref(op.Body)},
			"application/x-www-form-urlencoded": map[string]any{"schema": ref(op.Body)},
		}}
	}
	responses := map[string]any{}
	for status, schema := range op.OK {
		r := map[string]any{"description": http.StatusText(status)}
		if schema != "" {
			r["content"] = map[string]any{"application/json": map[string]any{"schema": ref(schema)}}
		}
		responses[strconv.Itoa(status)] = r
	}
	errs := append([]int{400, 503}, op.Errors...)
	if op.Auth != "" {
		errs = append(errs, 401, 403)
	}
	for _, status := range errs {
		responses[strconv.Itoa(status)] = map[string]any{"description": http.StatusText(status),
			"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	}
	responses["default"] = map[string]any{"description": "An error",
		"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	d["responses"] = responses
	return d
}

func operationID(op apiOp) string {
	id := strings.ToLower(op.Method)
	for _, part := range strings.FieldsFunc(op.Path, func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == ':' }) {
		id += strings.ToUpper(part[:1]) + part[1:]
	}
	return id
}

// docsView is the /api/docs page: the operations grouped by their first
// path segment, in path order.
type docsView struct {
	Groups []docsGroup
}

type docsGroup struct {
	Name string
	Ops  []docsOp
}

type docsOp struct {
	apiOp
	AuthNote string
	Statuses []string
}

func apiDocsView() docsView {
	byGroup := map[string][]docsOp{}
	var names []string
	for _, op := range apiOps {
		g := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")[0]
		if byGroup[g] == nil {
			names = append(names, g)
		}
		var st []string
		for s, schema := range op.OK {
			if schema == "" {
				schema = "no body"
			}
			st = append(st, strconv.Itoa(s)+" "+schema)
		}
		sort.Strings(st)
		byGroup[g] = append(byGroup[g], docsOp{apiOp: op, AuthNote: authNotes[op.Auth], Statuses: st})
	}
	v := docsView{}
	for _, n := range names {
		v.Groups = append(v.Groups, docsGroup{Name: "/" + n, Ops: byGroup[n]})
	}
	return v
}

func (s *Server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.openAPI)
}

func (s *Server) handleAPIDocs(c *fiber.Ctx) error {
	return s.view(c, fiber.StatusOK, "api/docs", "", Page{Title: "API", Data: apiDocsView()})
}

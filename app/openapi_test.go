package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"sessiond/models/testdb"
)

// TestOpenAPI_ServedDescribesRegisteredRoutes: the document is OpenAPI
// 3.1, each operation in it is a route the app registers, and the docs
// page lists them without any asset from elsewhere.
func TestOpenAPI_ServedDescribesRegisteredRoutes(t *testing.T) {
	a := newTestApp(t, testdb.SQLite(t), nil)
	req, _ := http.NewRequest("GET", testBase+"/api/openapi.json", nil)
	resp := a.do(req)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %d %v %q", resp.StatusCode, err, doc.OpenAPI)
	}
	registered := map[string]bool{}
	for _, r := range a.srv.Handler().GetRoutes(true) {
		registered[r.Method+" "+openAPIPath(r.Path)] = true
	}
	n := 0
	for path, item := range doc.Paths {
		for method := range item {
			n++
			if !registered[strings.ToUpper(method)+" "+path] {
				t.Errorf("the document describes %s %s, which is not a route", strings.ToUpper(method), path)
			}
		}
	}
	if n != len(apiOps) {
		t.Errorf("%d operations in the document, %d in apiOps (a path described twice?)", n, len(apiOps))
	}
	c := a.client()
	resp, body := c.page("/api/docs")
	if resp.StatusCode != 200 || !strings.Contains(body, "GET /api/me") || !strings.Contains(body, "POST /api/sessions") {
		t.Fatalf("/api/docs: %d", resp.StatusCode)
	}
	for _, bad := range []string{"https://", "http://", "cdn"} {
		if strings.Contains(strings.ToLower(body[:strings.Index(body, "<main")]), bad) {
			t.Errorf("/api/docs loads something from outside (%q in its head)", bad)
		}
	}
}

// TestOpenAPI_CheckerCatchesDrift: the hook that checks every JSON answer
// fails on a field the document does not have, a missing one, a wrong
// type, an undescribed status or route, and a non-{error} refusal.
func TestOpenAPI_CheckerCatchesDrift(t *testing.T) {
	sc, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	me := `{"user":{"id":1,"name":"A","email":"a@example.com","role":"user"},"sessionId":2,"expires":"2026-12-06T10:00:00Z","expiresIn":60,"amr":["pwd"]}`
	if err := sc.check("GET", "/api/me", 200, []byte(me)); err != nil {
		t.Fatalf("a right /api/me answer refused: %v", err)
	}
	for name, tc := range map[string]struct {
		method, path string
		status       int
		body         string
	}{
		"extra field":         {"GET", "/api/me", 200, strings.Replace(me, `"amr"`, `"extra":1,"amr"`, 1)},
		"missing field":       {"GET", "/api/me", 200, strings.Replace(me, `"sessionId":2,`, ``, 1)},
		"wrong type":          {"GET", "/api/me", 200, strings.Replace(me, `"sessionId":2`, `"sessionId":"2"`, 1)},
		"bad date-time":       {"GET", "/api/me", 200, strings.Replace(me, `2026-12-06T10:00:00Z`, `yesterday`, 1)},
		"undescribed status":  {"GET", "/api/me", 202, me},
		"undescribed route":   {"GET", "/api/nothing-here", 200, `{}`},
		"refusal not {error}": {"GET", "/api/me", 401, `{"message":"no"}`},
		"path parameter":      {"DELETE", "/admin/sessions/12", 200, `{"deleted":"one"}`},
	} {
		if err := sc.check(tc.method, tc.path, tc.status, []byte(tc.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := sc.check("GET", "/no-such-page", 404, []byte(`{"error":"not found"}`)); err != nil {
		t.Errorf("an {error} 404 from an undescribed route refused: %v", err)
	}
}

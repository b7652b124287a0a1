package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every JSON answer a test receives through testApp.do is checked against
// the OpenAPI document the server serves: its route and status must be
// described and its body must match the schema, so the document cannot
// drift from the code. JSON from a route the document does not list must
// be an {error} refusal.

type specOp struct {
	method  string
	pattern *regexp.Regexp
	literal bool
	path    string
	schemas map[string]*jsonschema.Schema // status or "default" → body schema
}

type specChecker struct {
	ops       []specOp
	errSchema *jsonschema.Schema
}

var (
	specOnce sync.Once
	spec     *specChecker
	specErr  error
)

func pointer(parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")
	}
	return "mem://openapi.json#/" + strings.Join(parts, "/")
}

func loadSpec() (*specChecker, error) {
	raw, err := openAPIDocument()
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem://openapi.json", doc); err != nil {
		return nil, err
	}
	sc := &specChecker{}
	if sc.errSchema, err = c.Compile(pointer("components", "schemas", "Error")); err != nil {
		return nil, err
	}
	paths := doc.(map[string]any)["paths"].(map[string]any)
	for path, item := range paths {
		for method, opAny := range item.(map[string]any) {
			op := specOp{method: strings.ToUpper(method), path: path, literal: !strings.Contains(path, "{"), schemas: map[string]*jsonschema.Schema{}}
			op.pattern = regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`) + "$")
			for status, resp := range opAny.(map[string]any)["responses"].(map[string]any) {
				content, _ := resp.(map[string]any)["content"].(map[string]any)
				if content == nil {
					op.schemas[status] = nil
					continue
				}
				s, err := c.Compile(pointer("paths", path, method, "responses", status, "content", "application/json", "schema"))
				if err != nil {
					return nil, fmt.Errorf("%s %s %s: %w", method, path, status, err)
				}
				op.schemas[status] = s
			}
			sc.ops = append(sc.ops, op)
		}
	}
	// Literal paths first: /admin/sessions/stats before /admin/sessions/{id}.
	sort.SliceStable(sc.ops, func(i, j int) bool { return sc.ops[i].literal && !sc.ops[j].literal })
	return sc, nil
}

func (sc *specChecker) find(method, path string) *specOp {
	for i := range sc.ops {
		if sc.ops[i].method == method && sc.ops[i].pattern.MatchString(path) {
			return &sc.ops[i]
		}
	}
	return nil
}

// check validates one JSON answer.
func (sc *specChecker) check(method, path string, status int, body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	op := sc.find(method, path)
	if op == nil {
		if status < 400 {
			return fmt.Errorf("a %d JSON answer from a route the OpenAPI document does not describe", status)
		}
		return sc.errSchema.Validate(inst)
	}
	schema, ok := op.schemas[strconv.Itoa(status)]
	if !ok {
		if status < 400 {
			return fmt.Errorf("status %d is not described for %s %s", status, op.method, op.path)
		}
		schema = op.schemas["default"]
	}
	if schema == nil {
		return fmt.Errorf("status %d of %s %s is described without a body", status, op.method, op.path)
	}
	return schema.Validate(inst)
}

// checkAgainstSpec is testApp.do's hook: it reads a JSON body, checks it,
// and puts it back for the test.
func checkAgainstSpec(t testing.TB, req *http.Request, resp *http.Response) {
	t.Helper()
	if req.Method == http.MethodHead || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return
	}
	specOnce.Do(func() { spec, specErr = loadSpec() })
	if specErr != nil {
		t.Fatalf("OpenAPI document: %v", specErr)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read %s %s: %v", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := spec.check(req.Method, req.URL.Path, resp.StatusCode, body); err != nil {
		t.Errorf("OpenAPI: %s %s → %d does not match the document: %v\nbody: %.400s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

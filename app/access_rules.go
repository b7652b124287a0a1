package app

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"sessiond/models"
)

// Access rules (ACCESS_RULES) say who may reach which proxied URL. They are
// read from a YAML file at start and on SIGHUP; every mistake is reported
// with its line, all at once, so one edit fixes a file.

// Policies: what a rule (or the default) asks of a visitor.
const (
	policyDeny     = "deny"      // nobody
	policySignedIn = "signed_in" // a session, and whatever else the rule asks
	policyBypass   = "bypass"    // everybody, signed in or not
)

// accessRules is one loaded file; it never changes once loaded (a reload
// builds a new one), so requests read it without locks.
type accessRules struct {
	File        string
	LoadedAt    time.Time
	Default     string
	DefaultLine int // 0: not written, signed_in
	Rules       []*accessRule
	limits      *rateLimits
}

// accessRule is one entry of rules:. Empty Hosts, Paths or Methods match
// anything; Groups, Roles and Users (any one suffices) and MFA are what a
// signed-in visitor must have once the rule matches.
type accessRule struct {
	index   int // in Rules: the rate limits' key
	Line    int
	Policy  string
	Hosts   []pattern
	Paths   []pattern
	Methods []string
	Groups  []string
	Roles   []string
	Users   []string
	MFA     bool
	Rate    *rateLimit
}

// hasSubjects reports whether the rule names who may pass.
func (r *accessRule) hasSubjects() bool {
	return len(r.Groups)+len(r.Roles)+len(r.Users) > 0
}

// rateLimit is "N per Per" (rate: 100/min).
type rateLimit struct {
	Raw string
	N   int
	Per time.Duration
}

// lineError is a mistake at a line of the rules file.
type lineError struct {
	Line int
	Msg  string
}

func (e lineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// loadAccessRules reads and checks the file named by ACCESS_RULES.
func loadAccessRules(file string, now time.Time) (*accessRules, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ACCESS_RULES: %w", err)
	}
	rs, err := parseAccessRules(data)
	if err != nil {
		return nil, fmt.Errorf("ACCESS_RULES %s:\n%w", file, err)
	}
	rs.File, rs.LoadedAt = file, now
	return rs, nil
}

// reloadAccessRules reads ACCESS_RULES again on a reload. A file with
// mistakes changes nothing: the rules in force stay, and the error (with
// each mistake's line) is logged. Rate counts start afresh with new rules.
func (s *Server) reloadAccessRules() reloader {
	return reloader{name: "access rules", apply: func(cfg *Config) error {
		if cfg.AccessRules == "" {
			return nil
		}
		rules, err := loadAccessRules(cfg.AccessRules, s.sessions.Now())
		if err != nil {
			if old := s.rules.Load(); old != nil {
				return fmt.Errorf("%w\n(the rules loaded at %s stay in force)", err, old.LoadedAt.UTC().Format(time.RFC3339))
			}
			return err
		}
		s.rules.Store(rules)
		s.log.Info("access rules reloaded", "file", rules.File, "rules", len(rules.Rules), "default", rules.Default)
		return nil
	}}
}

// parseAccessRules builds rules from YAML, naming every mistake's line.
func parseAccessRules(data []byte) (*accessRules, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// The parser's own message carries the line ("yaml: line 3: …").
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	rs := &accessRules{Default: policySignedIn}
	if len(doc.Content) == 0 {
		return nil, lineError{1, "the file is empty: want default: and rules:"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, lineError{root.Line, "want a mapping with default: and rules:"}
	}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		switch key.Value {
		case "default":
			rs.DefaultLine = val.Line
			if val.Kind != yaml.ScalarNode || !validPolicy(val.Value) {
				errs = append(errs, lineError{val.Line, fmt.Sprintf("default: unknown policy %q (want deny, signed_in or bypass)", val.Value)})
				continue
			}
			rs.Default = val.Value
		case "rules":
			if val.Kind != yaml.SequenceNode {
				if val.Tag != "!!null" {
					errs = append(errs, lineError{val.Line, "rules: want a list of rules"})
				}
				continue
			}
			for _, n := range val.Content {
				r, rerrs := parseRule(n)
				errs = append(errs, rerrs...)
				r.index = len(rs.Rules)
				rs.Rules = append(rs.Rules, r)
			}
		default:
			errs = append(errs, lineError{key.Line, fmt.Sprintf("unknown key %q (want default or rules)", key.Value)})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rs.limits = newRateLimits()
	return rs, nil
}

func validPolicy(p string) bool {
	return p == policyDeny || p == policySignedIn || p == policyBypass
}

// parseRule reads one rule, returning every mistake in it.
func parseRule(n *yaml.Node) (*accessRule, []error) {
	r := &accessRule{Line: n.Line, Policy: policySignedIn}
	if n.Kind != yaml.MappingNode {
		return r, []error{lineError{n.Line, "a rule is a mapping (hosts:, paths:, policy: …)"}}
	}
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, lineError{line, fmt.Sprintf(format, args...)})
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Value == "mfa" || key.Value == "policy" || key.Value == "rate" {
			if val.Kind != yaml.ScalarNode {
				fail(val.Line, "%s: want a single value", key.Value)
				continue
			}
		}
		switch key.Value {
		case "policy":
			if !validPolicy(val.Value) {
				fail(val.Line, "unknown policy %q (want deny, signed_in or bypass)", val.Value)
			}
			r.Policy = val.Value
		case "mfa":
			b, err := strconv.ParseBool(val.Value)
			if err != nil {
				fail(val.Line, "mfa: %q is not true or false", val.Value)
			}
			r.MFA = b
		case "rate":
			rl, err := parseRate(val.Value)
			if err != nil {
				fail(val.Line, "rate: %v", err)
			}
			r.Rate = rl
		case "hosts", "paths", "methods", "groups", "roles", "users":
			items, line, ok := yamlStrings(val)
			if !ok {
				fail(line, "%s: want a list of strings", key.Value)
				continue
			}
			for _, it := range items {
				if msg := r.add(key.Value, it.Value); msg != "" {
					fail(it.Line, "%s", msg)
				}
			}
		default:
			fail(key.Line, "unknown key %q (want hosts, paths, methods, groups, roles, users, mfa, rate or policy)", key.Value)
		}
	}
	if r.Policy != policySignedIn && (r.hasSubjects() || r.MFA) {
		fail(r.Line, "policy %s applies to everyone: groups, roles, users and mfa need policy signed_in", r.Policy)
	}
	if r.Policy == policyDeny && r.Rate != nil {
		fail(r.Line, "policy deny admits nobody, so a rate has nothing to limit")
	}
	return r, errs
}

// yamlStrings accepts one string or a list of them.
func yamlStrings(n *yaml.Node) ([]*yaml.Node, int, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []*yaml.Node{n}, n.Line, n.Tag != "!!null"
	case yaml.SequenceNode:
		for _, it := range n.Content {
			if it.Kind != yaml.ScalarNode {
				return nil, it.Line, false
			}
		}
		return n.Content, n.Line, true
	}
	return nil, n.Line, false
}

// add checks one list item and adds it to the rule; "" when it is fine.
func (r *accessRule) add(field, v string) string {
	switch field {
	case "hosts":
		p, err := hostPattern(v)
		if err != nil {
			return "hosts: " + err.Error()
		}
		r.Hosts = append(r.Hosts, p)
	case "paths":
		p, err := pathPattern(v)
		if err != nil {
			return "paths: " + err.Error()
		}
		r.Paths = append(r.Paths, p)
	case "methods":
		m := strings.ToUpper(v)
		if !knownMethod(m) {
			return fmt.Sprintf("methods: %q is not an HTTP method", v)
		}
		r.Methods = append(r.Methods, m)
	case "groups":
		if !models.ValidGroupName(v) {
			return fmt.Sprintf("groups: %q: want lower-case letters, digits, '.', '_' or '-'", v)
		}
		r.Groups = append(r.Groups, v)
	case "roles":
		if !models.ValidRole(v) {
			return fmt.Sprintf("roles: %q: want admin or user", v)
		}
		r.Roles = append(r.Roles, v)
	case "users":
		if !strings.Contains(v, "@") {
			return fmt.Sprintf("users: %q is not an email address", v)
		}
		r.Users = append(r.Users, strings.ToLower(v))
	}
	return ""
}

func knownMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return true
	}
	return false
}

// rateUnits are the periods a rate may name.
var rateUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hour": time.Hour,
	"day": 24 * time.Hour, "d": 24 * time.Hour,
}

// parseRate reads "100/min", "5/s", "1000/hour" or "10/day".
func parseRate(raw string) (*rateLimit, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(raw), "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	per, known := rateUnits[strings.TrimSpace(unit)]
	if !ok || err != nil || n < 1 || n > 1_000_000 || !known {
		return nil, fmt.Errorf("%q: want a count from 1 to 1000000 per s, min, hour or day, such as 100/min", raw)
	}
	return &rateLimit{Raw: raw, N: n, Per: per}, nil
}

package app

import (
	"fmt"
	"strings"
)

// The admin page that explains decisions: which rule a request matches and
// why, in words, from the same decide that /auth/verify runs.

// ruleView is a rule as the admin page and its JSON show it.
type ruleView struct {
	Line    int      `json:"line"`
	Hosts   []string `json:"hosts"`
	Paths   []string `json:"paths"`
	Methods []string `json:"methods"`
	Policy  string   `json:"policy"`
	Groups  []string `json:"groups"`
	Roles   []string `json:"roles"`
	Users   []string `json:"users"`
	MFA     bool     `json:"mfa"`
	Rate    string   `json:"rate"`
}

func (r *accessRule) view() ruleView {
	v := ruleView{Line: r.Line, Hosts: raws(r.Hosts), Paths: raws(r.Paths), Methods: nonNil(r.Methods), Policy: r.Policy,
		Groups: nonNil(r.Groups), Roles: nonNil(r.Roles), Users: nonNil(r.Users), MFA: r.MFA}
	if r.Rate != nil {
		v.Rate = r.Rate.Raw
	}
	return v
}

func raws(ps []pattern) []string {
	out := make([]string, len(ps))
	for i := range ps {
		out[i] = ps[i].Raw
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ruleStep is one rule's part in a decision: skipped (and why) or matched.
type ruleStep struct {
	Line    int    `json:"line"`
	Matched bool   `json:"matched"`
	Why     string `json:"why"`
}

// accessExplanation answers "what would verify say, and why".
type accessExplanation struct {
	Host      string     `json:"host"`
	Path      string     `json:"path"`
	Method    string     `json:"method"`
	Visitor   string     `json:"visitor"`
	Steps     []ruleStep `json:"steps"`
	DecidedBy string     `json:"decidedBy"` // "rule at line 7" or "default (line 1)"
	Verdict   string     `json:"verdict"`
	Status    string     `json:"status"` // what the proxy gets
	Why       string     `json:"why"`
}

// explain runs decide for t and v and says why, rule by rule.
func (rs *accessRules) explain(t accessTarget, v visitor) accessExplanation {
	e := accessExplanation{Host: t.Host, Path: t.Path, Method: t.Method, Visitor: v.describe(), Steps: []ruleStep{}}
	for _, r := range rs.Rules {
		step := ruleStep{Line: r.Line}
		switch r.mismatch(t) {
		case failHost:
			step.Why = fmt.Sprintf("host %s fits none of %s", t.Host, list(raws(r.Hosts)))
		case failPath:
			step.Why = fmt.Sprintf("path %s fits none of %s", t.Path, list(raws(r.Paths)))
		case failMethod:
			step.Why = fmt.Sprintf("method %s is not %s", t.Method, list(r.Methods))
		default:
			step.Matched, step.Why = true, "matches: "+r.fits(t)
		}
		e.Steps = append(e.Steps, step)
		if step.Matched {
			break
		}
	}
	rule, verdict := rs.decide(t, v)
	e.Verdict, e.Status = verdict.String(), verdict.statuses()
	e.DecidedBy = "rule at line " + ruleLine(rs, rule)
	if rule == nil {
		e.DecidedBy = "no rule matches: the default, " + rs.Default
		if rs.DefaultLine > 0 {
			e.DecidedBy += fmt.Sprintf(" (line %d)", rs.DefaultLine)
		}
	}
	e.Why = rs.reason(rule, verdict, v)
	return e
}

// fits says how a matching rule covers t.
func (r *accessRule) fits(t accessTarget) string {
	var parts []string
	parts = append(parts, fitPart("host", t.Host, r.Hosts))
	parts = append(parts, fitPart("path", t.Path, r.Paths))
	if len(r.Methods) == 0 {
		parts = append(parts, "any method")
	} else {
		parts = append(parts, "method "+t.Method+" is one of "+list(r.Methods))
	}
	return strings.Join(parts, "; ")
}

func fitPart(what, value string, ps []pattern) string {
	if len(ps) == 0 {
		return "any " + what
	}
	for i := range ps {
		if ps[i].match(value) {
			return fmt.Sprintf("%s %s fits %s", what, value, ps[i].Raw)
		}
	}
	return what + " " + value
}

// reason puts the verdict in words.
func (rs *accessRules) reason(r *accessRule, verdict verdict, v visitor) string {
	policy := rs.Default
	if r != nil {
		policy = r.Policy
	}
	var why string
	switch {
	case policy == policyBypass:
		why = "policy bypass admits everyone, signed in or not"
	case policy == policyDeny:
		why = "policy deny refuses everyone"
	case verdict == verdictSignIn:
		why = "policy signed_in needs a session; a visitor without one is sent to sign in"
	case r == nil:
		why = "the default, signed_in, admits any session"
	case verdict == verdictForbidden:
		why = "it admits only " + r.who() + "; " + v.Email + " is none of them"
	case verdict == verdictSecondFactor:
		why = "mfa: true needs a session made with a second factor, and this one was made without"
	case r.hasSubjects():
		why = "it admits " + r.who() + ", and " + v.Email + " is among them"
	default:
		why = "policy signed_in admits any session"
	}
	if verdict == verdictAllow && r != nil && r.MFA {
		why += "; the session has the second factor mfa: true asks for"
	}
	if r != nil && r.Rate != nil {
		per := "session"
		if r.Policy == policyBypass {
			per = "client address"
		}
		why += fmt.Sprintf("; at most %s per %s, then 429 with Retry-After", r.Rate.Raw, per)
	}
	return why
}

// who lists a rule's groups, roles and users in words.
func (r *accessRule) who() string {
	var parts []string
	if len(r.Groups) > 0 {
		parts = append(parts, "members of "+list(r.Groups))
	}
	if len(r.Roles) > 0 {
		parts = append(parts, "role "+list(r.Roles))
	}
	if len(r.Users) > 0 {
		parts = append(parts, list(r.Users))
	}
	return strings.Join(parts, ", or ")
}

func (v visitor) describe() string {
	if !v.SignedIn {
		return "nobody signed in"
	}
	groups := "no groups"
	if v.Groups != "" {
		groups = "groups " + strings.ReplaceAll(v.Groups, ",", ", ")
	}
	factor := "a session made without a second factor"
	if v.MFA {
		factor = "a session made with a second factor"
	}
	return fmt.Sprintf("%s (role %s, %s), %s", v.Email, v.Role, groups, factor)
}

// statuses is what each proxy gets for a verdict.
func (v verdict) statuses() string {
	switch v {
	case verdictAllow:
		return "200: the proxy serves the app"
	case verdictSignIn:
		return "401 (nginx, whose error page then sends the browser to sign in); Caddy and Traefik: 302 to sign in for a browser, else 401"
	case verdictSecondFactor:
		return "401 (nginx, whose error page then sends the browser on); Caddy and Traefik: 302 to the second step for a browser, else 403"
	}
	return "403"
}

func list(items []string) string {
	return strings.Join(items, ", ")
}

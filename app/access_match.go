package app

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"sessiond/models"
)

// pattern is a host or path pattern, compiled to the cheapest test that
// answers it: most are a literal, a prefix or a suffix, so matching 50
// rules costs string comparisons, not 50 regular expressions.
type pattern struct {
	Raw  string
	kind patternKind
	lit  string
	re   *regexp.Regexp
}

type patternKind uint8

const (
	matchAny patternKind = iota
	matchExact
	matchPrefix
	matchSuffix
	matchRegexp
)

func (p *pattern) match(s string) bool {
	switch p.kind {
	case matchAny:
		return true
	case matchExact:
		return s == p.lit
	case matchPrefix:
		return strings.HasPrefix(s, p.lit)
	case matchSuffix:
		return strings.HasSuffix(s, p.lit)
	}
	return p.re.MatchString(s)
}

// hostPattern: a name, "*.example.com" (any name below it), or a glob
// where * stands for any run of characters.
func hostPattern(raw string) (pattern, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	if v == "" || strings.ContainsAny(v, "/: \t") {
		return pattern{}, fmt.Errorf("%q: want a host name such as app.example.com or *.example.com (no scheme, port or path)", raw)
	}
	p := pattern{Raw: raw}
	switch {
	case v == "*":
		p.kind = matchAny
	case !strings.Contains(v, "*"):
		p.kind, p.lit = matchExact, v
	case strings.HasPrefix(v, "*.") && !strings.Contains(v[1:], "*"):
		p.kind, p.lit = matchSuffix, v[1:]
	default:
		p.kind, p.re = matchRegexp, globRegexp(v)
	}
	return p, nil
}

// pathPattern: a regular expression when it starts with ^, else a glob
// where * stands for any run of characters, "/" included (as Caddy's path
// matcher has it), so /admin/* covers everything below /admin/.
func pathPattern(raw string) (pattern, error) {
	p := pattern{Raw: raw}
	switch {
	case strings.HasPrefix(raw, "^"):
		re, err := regexp.Compile(raw)
		if err != nil {
			return pattern{}, fmt.Errorf("broken regular expression %q: %s", raw, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		p.kind, p.re = matchRegexp, re
	case raw == "*":
		p.kind = matchAny
	case !strings.HasPrefix(raw, "/"):
		return pattern{}, fmt.Errorf("%q: want a path starting with / (a glob), or ^ (a regular expression)", raw)
	case !strings.Contains(raw, "*"):
		p.kind, p.lit = matchExact, raw
	case strings.Index(raw, "*") == len(raw)-1:
		p.kind, p.lit = matchPrefix, raw[:len(raw)-1]
	default:
		p.kind, p.re = matchRegexp, globRegexp(raw)
	}
	return p, nil
}

func globRegexp(glob string) *regexp.Regexp {
	parts := strings.Split(glob, "*")
	for i, part := range parts {
		parts[i] = regexp.QuoteMeta(part)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// accessTarget is the request a proxy asks about, normalised the way the
// app behind it will see it: a lower-case host without port, the path
// percent-decoded with dot segments resolved (so /public/../admin is
// judged as /admin), no query.
type accessTarget struct {
	Host, Path, Method string
}

// newAccessTarget normalises what the proxy said; false when it cannot be
// read, which the caller treats as a request it must refuse.
func newAccessTarget(host, uri, method string) (accessTarget, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	p, err := url.PathUnescape(uri)
	if host == "" || err != nil || !strings.HasPrefix(p, "/") {
		return accessTarget{}, false
	}
	if clean := path.Clean(p); clean != p {
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		p = clean
	}
	method = strings.ToUpper(method)
	if method == "" {
		method = "GET"
	}
	return accessTarget{Host: host, Path: p, Method: method}, true
}

// What a rule's fields say about a target: the first that does not fit.
const (
	fitsAll    = ""
	failHost   = "host"
	failPath   = "path"
	failMethod = "method"
)

// mismatch is the first of host, path and method the rule does not cover,
// or fitsAll.
func (r *accessRule) mismatch(t accessTarget) string {
	if !anyMatch(r.Hosts, t.Host) {
		return failHost
	}
	if !anyMatch(r.Paths, t.Path) {
		return failPath
	}
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, t.Method) {
		return failMethod
	}
	return fitsAll
}

func anyMatch(ps []pattern, s string) bool {
	if len(ps) == 0 {
		return true
	}
	for i := range ps {
		if ps[i].match(s) {
			return true
		}
	}
	return false
}

// match is the first rule covering t, or nil (the default applies).
func (rs *accessRules) match(t accessTarget) *accessRule {
	for _, r := range rs.Rules {
		if r.mismatch(t) == fitsAll {
			return r
		}
	}
	return nil
}

// visitor is who asks: the session's user, or nobody.
type visitor struct {
	SignedIn bool
	Email    string
	Role     string
	Groups   string // comma-separated, as stored (models.User.GroupNames)
	MFA      bool   // the session was made with a second factor
}

func visitorOf(sess *models.Session) visitor {
	if sess == nil {
		return visitor{}
	}
	return visitor{SignedIn: true, Email: sess.User.Email, Role: sess.User.Role,
		Groups: sess.User.GroupNames, MFA: sess.AMR.MultiFactor()}
}

// admits reports whether v is one of the rule's groups, roles or users.
func (r *accessRule) admits(v visitor) bool {
	if slices.Contains(r.Roles, v.Role) || slices.Contains(r.Users, strings.ToLower(v.Email)) {
		return true
	}
	for _, g := range r.Groups {
		if inList(v.Groups, g) {
			return true
		}
	}
	return false
}

// inList reports whether the comma-separated list holds item, without
// splitting it (verify runs on every proxied request).
func inList(list, item string) bool {
	for list != "" {
		var next string
		next, list, _ = strings.Cut(list, ",")
		if next == item {
			return true
		}
	}
	return false
}

// verdict is the answer to a proxy, before it is put in its protocol.
type verdict uint8

const (
	verdictAllow        verdict = iota
	verdictSignIn               // no session
	verdictSecondFactor         // a session without the second factor the app wants
	verdictForbidden            // signed in (or not) but not admitted
)

func (v verdict) String() string {
	return [...]string{"allowed", "sign-in required", "second factor required", "forbidden"}[v]
}

// decide applies the first matching rule (or the default) to v.
func (rs *accessRules) decide(t accessTarget, v visitor) (*accessRule, verdict) {
	r := rs.match(t)
	policy := rs.Default
	if r != nil {
		policy = r.Policy
	}
	switch {
	case policy == policyBypass:
		return r, verdictAllow
	case policy == policyDeny:
		return r, verdictForbidden
	case !v.SignedIn:
		return r, verdictSignIn
	case r == nil:
		return nil, verdictAllow
	case r.hasSubjects() && !r.admits(v):
		return r, verdictForbidden
	case r.MFA && !v.MFA:
		return r, verdictSecondFactor
	}
	return r, verdictAllow
}

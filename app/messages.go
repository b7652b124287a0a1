package app

import (
	"strings"
	"unicode"

	"sessiond/models"
)

// Messages for people. JSON clients get the precise message ("limit: must
// be …", which names the parameter a script sent); a page or a toast says
// the same in a sentence, without field keys.

// plainMessages replaces messages whose precise form reads badly.
var plainMessages = map[string]string{
	"current_password: wrong password":                  "Your current password is not right.",
	"admins only":                                       "This page is for administrators.",
	"missing CSRF token: reload the page and try again": "This page is out of date. Reload it and try again.",
	"invalid CSRF token: reload the page and try again": "This page is out of date. Reload it and try again.",
	"sign in required":                                  "Please sign in to continue.",
	"not found":                                         "There is nothing at this address.",
	"internal error":                                    "Something went wrong on our side.",
}

// fieldLabels names the parameters and form fields people see.
var fieldLabels = map[string]string{
	"q": "Search", "limit": "Per page", "page": "Page", "status": "Status", "userId": "User",
	"cursor": "This page link", "at": "This page link", "sort": "Sort order", "id": "The id", "sessionToken": "The session token",
	"current_password": "Current password", "new_password": "New password", "confirm": "The confirmation",
	"email": "Email", "name": "Name", "role": "Role", "kind": "Kind", "from": "From", "to": "To",
	"code": "Code", "mfa": "Second factor", "body": "The request", "credential": "The passkey",
	"user": "User", "actor": "Actor", "ip": "IP address", "action": "The action",
}

// humanMessage is msg as a sentence for a page or a toast.
func humanMessage(msg string) string {
	if m, ok := plainMessages[msg]; ok {
		return m
	}
	if key, rest, ok := strings.Cut(msg, ": "); ok && isFieldKey(key) {
		label, known := fieldLabels[key]
		if !known {
			label = strings.ReplaceAll(key, "_", " ")
		}
		switch {
		case strings.HasPrefix(rest, "must ") || strings.HasPrefix(rest, "is "):
			msg = label + " " + rest
		default:
			msg = label + ": " + rest
		}
	}
	return sentence(msg)
}

func isFieldKey(s string) bool {
	if s == "" || len(s) > 24 {
		return false
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || r == '_') {
			return false
		}
	}
	return true
}

// sentence capitalises the first letter and ends with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	s = string(r)
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, ")") {
		s += "."
	}
	return s
}

// endedReason says why a session ended, for the sign-in page.
func endedReason(e *models.EndedSession) string {
	switch e.Kind {
	case models.EventUserForceLogout:
		if e.ByAdmin {
			return "An administrator signed you out on every device."
		}
		return "You were signed out on every device."
	case models.EventSessionRevoked:
		if e.ByAdmin {
			return "An administrator ended this session."
		}
		return "You signed this device out from another one."
	case models.EventUserRevokeOthers:
		return "You signed out your other sessions from another device."
	case models.EventPasswordChanged:
		return "Your password was changed, which signs out your other sessions."
	case models.EventUserRoleChanged:
		return "Your role was changed, which ends every session."
	case models.EventFactorsReset:
		return "Your second factors were reset, which ends every session."
	case models.EventUserDisabled:
		return "Your account was disabled."
	}
	if e.ByAdmin {
		return "An administrator ended it."
	}
	return ""
}

// eventLabels name audit event kinds in the console's words; the raw kind
// stays in JSON, CSV and the filter's values.
var eventLabels = map[string]string{
	"session.created":       "Signed in",
	"session.extended":      "Session extended",
	"session.signed_out":    "Signed out",
	"session.revoked":       "Session ended",
	"session.step_up":       "Confirmed identity",
	"user.force_logout":     "All sessions ended",
	"user.revoke_others":    "Other sessions signed out",
	"user.created":          "User created",
	"user.disabled":         "User disabled",
	"user.enabled":          "User enabled",
	"user.deleted":          "User deleted",
	"user.role_changed":     "Role changed",
	"user.password_changed": "Password changed",
	"user.factors_reset":    "Second factors reset",
	"signin.failed":         "Sign-in failed",
	"cleanup.run":           "Expired sessions removed",
	"factor.added":          "Second factor added",
	"factor.removed":        "Second factor removed",
	"factor.recovery_codes": "New recovery codes",
}

// eventLabel is kind's name for people (the kind itself when unknown).
func eventLabel(kind string) string {
	if l, ok := eventLabels[kind]; ok {
		return l
	}
	return kind
}

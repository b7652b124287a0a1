package app

import "sessiond/models"

// Schema helpers: JSON Schema 2020-12, which OpenAPI 3.1 uses as is.

// obj is an object with exactly these properties, all required.
func obj(props map[string]any) map[string]any {
	req := make([]string, 0, len(props))
	for k := range props {
		req = append(req, k)
	}
	return map[string]any{"type": "object", "properties": props, "required": req, "additionalProperties": false}
}

// objOpt is obj whose listed properties may be left out.
func objOpt(props map[string]any, optional ...string) map[string]any {
	o := obj(props)
	var req []string
	for _, k := range o["required"].([]string) {
		if !contains(optional, k) {
			req = append(req, k)
		}
	}
	o["required"] = req
	return o
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func typ(t string) map[string]any      { return map[string]any{"type": t} }
func nullable(t string) map[string]any { return map[string]any{"type": []string{t, "null"}} }
func arr(items any) map[string]any     { return map[string]any{"type": "array", "items": items} }
func enum(v ...string) map[string]any  { return map[string]any{"type": "string", "enum": v} }

var (
	integer  = typ("integer")
	str      = typ("string")
	boolean  = typ("boolean")
	dateTime = map[string]any{"type": "string", "format": "date-time"}
	anyObj   = typ("object")
	optTime  = map[string]any{"type": []string{"string", "null"}, "format": "date-time"}
)

func apiSchemas() map[string]any {
	user := obj(map[string]any{"id": integer, "name": str, "email": str, "role": enum(models.RoleAdmin, models.RoleUser)})
	adminUser := obj(map[string]any{"id": integer, "name": str, "email": str, "role": str, "createdAt": dateTime,
		"activeSessions": integer, "expiredSessions": integer, "totalSessions": integer, "disabled": boolean,
		"emailVerified": boolean, "groups": map[string]any{"type": []string{"array", "null"}, "items": str}})
	session := map[string]any{"id": integer, "sessionToken": str, "userId": integer, "user": map[string]any{"oneOf": []any{ref("User"), typ("null")}},
		"createdAt": dateTime, "lastSeenAt": dateTime, "expires": dateTime, "expiresIn": integer, "status": enum("active", "expired"),
		"ip": str, "userAgent": str, "amr": arr(str), "strongAt": optTime, "provider": nullable("string")}
	adminSession := map[string]any{"country": str, "city": str, "signInFlags": arr(str)}
	accountSession := map[string]any{"device": str, "current": boolean}
	for k, v := range session {
		adminSession[k], accountSession[k] = v, v
	}
	factor := obj(map[string]any{"id": integer, "kind": str, "name": str, "createdAt": dateTime, "lastUsedAt": optTime})
	event := obj(map[string]any{"id": integer, "at": dateTime, "kind": str, "sessionId": nullable("integer"), "userId": nullable("integer"),
		"actorId": nullable("integer"), "actorTokenId": nullable("integer"), "ip": str, "userAgent": str, "detail": str,
		"userEmail": str, "actorEmail": str})
	token := obj(map[string]any{"id": integer, "kind": enum(models.TokenPersonal, models.TokenService), "name": str, "prefix": str,
		"scopes": arr(enum(models.Scopes...)), "owner": str, "createdAt": dateTime, "expiresAt": optTime, "lastUsedAt": optTime,
		"lastUsedIp": str, "revokedAt": optTime, "status": enum("active", "expired", "revoked")})
	run := objOpt(map[string]any{"id": integer, "trigger": str, "startedAt": dateTime, "finishedAt": optTime, "deleted": integer,
		"error": str, "progressAt": optTime, "durationMs": nullable("integer")}, "progressAt")
	delete(run, "additionalProperties") // a run also says who started it and how far it expects to go
	endpoint := obj(map[string]any{"id": integer, "url": str, "events": arr(enum(models.WebhookTypes...)), "createdAt": dateTime})
	deliveryProps := map[string]any{"id": integer, "jobId": integer, "channel": str, "kind": str, "recipient": str, "userId": nullable("integer"),
		"status": str, "attempts": integer, "lastError": str, "createdAt": dateTime, "updatedAt": dateTime, "deliveredAt": optTime,
	}
	mail := obj(deliveryProps)
	deliveryProps["endpointId"], deliveryProps["responseCode"], deliveryProps["latencyMs"] = integer, nullable("integer"), nullable("integer")
	delivery := obj(deliveryProps)
	return map[string]any{
		"Error": objOpt(map[string]any{"error": str, "reauth": boolean, "secondFactor": boolean, "enrol": boolean, "next": str},
			"reauth", "secondFactor", "enrol", "next"),
		"Status":   obj(map[string]any{"status": str}),
		"Document": map[string]any{"type": "object", "required": []string{"openapi", "info", "paths"}},
		"Message":  obj(map[string]any{"message": str}),
		"Deleted":  obj(map[string]any{"deleted": integer}),
		"Revoked":  obj(map[string]any{"revoked": integer}),
		"User":     user,
		"Me": obj(map[string]any{"user": ref("User"), "sessionId": integer, "expires": dateTime, "expiresIn": integer,
			"amr": arr(str)}),
		"Credentials":  objOpt(map[string]any{"email": str, "password": str, "next": str}, "next"),
		"NativeSignIn": objOpt(map[string]any{"email": str, "password": str, "code": str}, "code"),
		"SessionToken": obj(map[string]any{"token": str, "expires": dateTime, "sessionId": integer, "user": ref("User"), "amr": arr(str)}),
		"SignedIn": map[string]any{"oneOf": []any{
			obj(map[string]any{"user": ref("User"), "expires": dateTime, "amr": arr(str)}),
			obj(map[string]any{"secondFactor": boolean}),
		}},
		"PasswordReset": obj(map[string]any{"message": str, "sessionsEnded": integer}),
		"Redirect":      obj(map[string]any{"redirect": str, "amr": arr(str)}),
		"StepUp":        obj(map[string]any{"strongAt": dateTime, "methods": arr(str)}),
		"WebAuthnOptions": map[string]any{"type": "object", "required": []string{"publicKey"},
			"description": "PublicKeyCredentialCreationOptions or RequestOptions, as the WebAuthn API takes them"},
		"Alerts":   obj(map[string]any{"signInAlerts": boolean}),
		"Security": obj(map[string]any{"totp": map[string]any{"oneOf": []any{factor, typ("null")}}, "passkeys": arr(factor), "recoveryCodesLeft": integer}),
		"TOTPKey":  obj(map[string]any{"secret": str, "url": str, "qr": str}),
		"RecoveryCodes": objOpt(map[string]any{"recoveryCodes": map[string]any{"type": []string{"array", "null"}, "items": str}, "redirect": str},
			"redirect"),
		"Factor": obj(map[string]any{"id": integer, "name": str}),
		"AccountSessionList": obj(map[string]any{"sessions": arr(obj(accountSession)), "page": integer, "limit": integer,
			"total": integer, "totalPages": integer}),
		"SessionList": objOpt(map[string]any{"sessions": arr(obj(adminSession)), "page": nullable("integer"), "limit": integer,
			"total": integer, "totalIsEstimate": boolean, "totalPages": integer, "nextCursor": str, "prevCursor": str}, "nextCursor", "prevCursor"),
		"SessionDetail": obj(map[string]any{"session": obj(adminSession), "events": map[string]any{"type": []string{"array", "null"}, "items": event}}),
		"SessionStats": obj(map[string]any{"active": integer, "expired": integer, "expiringWithin24h": integer, "usersWithSessions": integer,
			"total": integer, "lastCleanup": map[string]any{"oneOf": []any{typ("null"), obj(map[string]any{"trigger": str,
				"startedAt": dateTime, "finishedAt": optTime, "deleted": integer, "error": str})}}}),
		"SessionAction": map[string]any{"type": "object", "properties": map[string]any{"action": enum("cleanup"),
			"ids": arr(integer), "userId": integer}},
		"UserList":     obj(map[string]any{"users": arr(adminUser), "total": integer, "page": integer, "limit": integer, "totalPages": integer}),
		"NewUser":      objOpt(map[string]any{"email": str, "name": str, "role": enum(models.RoleAdmin, models.RoleUser), "password": str}, "role"),
		"CreatedUser":  obj(map[string]any{"user": adminUser}),
		"RoleChanged":  obj(map[string]any{"user": adminUser, "deleted": integer}),
		"UserDeleted":  obj(map[string]any{"userId": integer, "deleted": integer}),
		"UserDisabled": obj(map[string]any{"userId": integer, "disabled": boolean, "deleted": integer}),
		"ResetLink":    obj(map[string]any{"userId": integer, "link": str, "expiresIn": integer}),
		"Queued":       obj(map[string]any{"userId": integer, "queued": boolean}),
		"Resent":       obj(map[string]any{"queued": boolean}),
		"Token":        token,
		"TokenList":    obj(map[string]any{"tokens": arr(token)}),
		"NewToken": objOpt(map[string]any{"name": str, "scopes": arr(enum(models.Scopes...)),
			"expires": map[string]any{"type": "string", "description": "30d, 12h, or never"}}, "expires"),
		"NewTokenSecret": obj(map[string]any{"token": token, "secret": map[string]any{"type": "string", "pattern": "^sdt_[A-Za-z0-9_-]{43}$"}}),
		"AccessRules": map[string]any{"type": "object", "required": []string{"loaded", "file", "default", "loadedAt", "rules", "explanation"},
			"properties": map[string]any{"rules": typ("array")}},
		"MailLink":       obj(map[string]any{"userId": integer, "kind": str, "link": str}),
		"ProfileChanged": obj(map[string]any{"user": ref("User"), "emailVerified": boolean, "emailPending": nullable("string")}),
		"EmailVerified":  obj(map[string]any{"userId": integer, "email": str, "verified": boolean}),
		"Webhooks":       obj(map[string]any{"endpoints": arr(endpoint), "deliveries": arr(delivery)}),
		"NewWebhook": objOpt(map[string]any{"url": map[string]any{"type": "string", "format": "uri"}, "events": arr(enum(models.WebhookTypes...)),
			"secret": str}, "secret"),
		"NewWebhookSecret": obj(map[string]any{"endpoint": endpoint, "secret": map[string]any{"type": "string", "pattern": "^whsec_"}}),
		"WebhookEvent": obj(map[string]any{"type": enum(models.WebhookTypes...), "timestamp": dateTime, "data": obj(map[string]any{
			"eventId": integer, "sessionId": nullable("integer"), "userId": nullable("integer"), "userEmail": str, "actorId": nullable("integer"),
			"actorTokenId": nullable("integer"), "ip": str, "userAgent": str, "detail": str})}),
		"MailDeliveries": obj(map[string]any{"deliveries": arr(mail), "smtpConfigured": boolean}),
		"CleanupRuns":    obj(map[string]any{"runs": arr(run), "running": map[string]any{"description": "the run under way, if any"}, "schedule": str, "nextRun": optTime}),
		"CleanupStarted": obj(map[string]any{"runId": integer, "running": boolean}),
		"CleanupResult":  obj(map[string]any{"deleted": integer, "eventsPruned": integer, "skipped": boolean, "runId": integer}),
		"AuditList":      objOpt(map[string]any{"events": arr(event), "limit": integer, "nextCursor": str}, "nextCursor"),
		"Insights": obj(map[string]any{
			"days":      arr(obj(map[string]any{"day": dateTime, "signIns": integer, "activeSessions": integer, "failedSignIns": integer})),
			"topUsers":  arr(obj(map[string]any{"userId": integer, "email": str, "name": str, "sessions": integer})),
			"countries": arr(obj(map[string]any{"country": str, "sessions": integer}))}),
	}
}

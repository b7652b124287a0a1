package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// routes is the map of the application.
func (s *Server) routes() {
	a := s.app
	a.Use(s.requestIDs, s.accessLog, s.recoverer(), s.securityHeaders, allowedMethods)

	// Public, no session and no database.
	a.Use("/static", filesystem.New(filesystem.Config{Root: staticFS(), MaxAge: 365 * 24 * 3600}))
	a.Get("/healthz", s.handleHealthz)
	a.Get("/readyz", s.handleReadyz)

	// The API's OpenAPI 3.1 description, and a page to read it.
	a.Get("/api/openapi.json", s.handleOpenAPI)
	a.Get("/api/docs", s.handleAPIDocs)

	// Prometheus metrics (bearer token).
	a.Get("/metrics", s.handleMetrics)

	// A provider's back-channel logout: server to server, proved by the
	// signed logout token, so no session and no CSRF token.
	a.Post("/login/provider/:name/backchannel-logout", s.handleBackchannelLogout)

	// Everything below gets only clean text (UTF-8, no NUL), knows the
	// session, and checks CSRF on state changes.
	a.Use(s.noteForwardedFor, checkInput, s.loadSession, s.checkCSRF)

	// Sign-in, sign-out and first-admin setup.
	a.Get("/login", s.handleLoginForm)
	a.Post("/login", s.handleLogin)
	a.Get("/logout", s.handleLogoutForm)
	a.Post("/logout", s.handleLogout)
	a.Get("/setup", s.handleSetupForm)
	a.Post("/setup", s.handleSetup)

	// Password reset by mailed link.
	a.Get("/password/forgot", s.handleForgotForm)
	a.Post("/password/forgot", s.handleForgot)
	a.Get("/password/reset", s.handleResetForm)
	a.Post("/password/reset", s.handleReset)

	// An email verification link (works signed out).
	a.Get("/email/verify", s.handleVerifyEmailForm)
	a.Post("/email/verify", s.handleVerifyEmail)

	// A sign-in alert's "This wasn't me" link (works signed out).
	a.Get("/account/not-me", s.handleNotMeForm)
	a.Post("/account/not-me", s.handleNotMe)

	// The second step of a sign-in, and enrolling a factor right after the
	// password when the policy requires one (no session until either is done).
	a.Get("/login/second-factor", s.handleSecondFactorForm)
	a.Post("/login/second-factor", s.handleSecondFactor)
	a.Get("/login/enrol", s.handleSecurity)
	a.Post("/login/passkey/options", s.handlePasskeyLoginOptions)
	a.Post("/login/passkey", s.handlePasskeyLogin)
	// Sign-in providers (OpenID Connect, GitHub): the button posts, the
	// provider sends the browser back to the callback.
	a.Post("/login/provider/:name", s.handleProviderStart)
	a.Get("/login/provider/:name/callback", s.handleProviderCallback)
	a.Get("/login/mfa", requireUser, s.handleMFAForm)
	a.Post("/login/mfa", requireUser, s.handleMFA)

	// Signed-in users.
	a.Get("/", requireUser, s.handleHome)
	a.Get("/api/me", requireUser, s.handleMe)

	// Native and CLI clients: sign in for a session token, sign out.
	a.Post("/api/sessions", s.handleAPISessionCreate)
	a.Delete("/api/sessions/current", requireUser, s.handleAPISessionDelete)

	// Forward-auth for reverse proxies.
	a.Get("/auth/verify", s.handleAuthVerify)

	// Your sessions and password.
	a.Get("/account/sessions", requireUser, s.handleAccountSessions)
	a.Post("/account/sessions/revoke-others", requireUser, s.handleAccountRevokeOthers)
	a.Delete("/account/sessions/:id", requireUser, s.handleAccountSessionRevoke)
	a.Get("/account/alerts", requireUser, s.handleAlertsForm)
	a.Post("/account/alerts", requireUser, s.handleAlerts)
	a.Get("/account/password", requireUser, s.handlePasswordForm)
	a.Post("/account/password", requireUser, s.requireStepUp, s.handlePasswordChange)

	// Second factors: an authenticator app, passkeys, recovery codes. Enrolling also
	// works for a user the policy holds right after the password.
	a.Get("/account/security", s.handleSecurity)
	a.Post("/account/totp", s.handleTOTPStart)
	a.Get("/account/totp", s.handleTOTPForm)
	a.Post("/account/totp/confirm", s.handleTOTPConfirm)
	a.Post("/account/passkeys/options", s.handlePasskeyRegisterOptions)
	a.Post("/account/passkeys", s.handlePasskeyRegister)
	a.Post("/account/recovery-codes", requireUser, s.requireStepUp, s.handleRecoveryCodesNew)
	a.Post("/account/factors/:id/name", requireUser, s.handleFactorRename)
	a.Delete("/account/factors/:id", requireUser, s.requireStepUp, s.handleFactorRemove)

	// Provider accounts: link (a round trip to the provider) and unlink.
	a.Post("/account/providers/:name/link", requireUser, s.requireStepUp, s.handleProviderLink)
	a.Delete("/account/accounts/:id", requireUser, s.requireStepUp, s.handleAccountUnlink)

	// Personal API tokens (creating one is a dangerous action: step-up).
	a.Get("/account/tokens", requireUser, s.handleTokensList)
	a.Post("/account/tokens", requireUser, s.requireStepUp, s.handleTokenCreate)
	a.Delete("/account/tokens/:id", requireUser, s.handleTokenRevoke)

	// Step-up: re-authenticating for dangerous actions (requireStepUp).
	a.Get("/account/reauth", requireUser, s.handleReauthForm)
	a.Post("/account/reauth", requireUser, s.handleReauth)
	a.Post("/account/reauth/passkey/options", requireUser, s.handleReauthPasskeyOptions)
	a.Post("/account/reauth/passkey", requireUser, s.handleReauthPasskey)
	a.Post("/account/reauth/provider/:name", requireUser, s.handleReauthProvider)

	// Admins only: every route and fragment under /admin.
	admin := a.Group("/admin", requireAdmin, s.forgetFigures, s.logAdminActions)
	admin.Get("/", func(c *fiber.Ctx) error { return redirect(c, "/admin/sessions") })

	// Sessions and users.
	admin.Get("/sessions", s.handleAdminSessions)
	admin.Get("/sessions/stats", s.handleAdminSessionStats)
	admin.Post("/sessions", s.requireStepUp, s.handleAdminSessionAction)
	admin.Delete("/sessions", s.requireStepUp, s.handleAdminSessionDelete)
	admin.Get("/sessions/:id", s.handleAdminSessionDetail)
	admin.Delete("/sessions/:id", s.handleAdminSessionDeleteOne)

	// Users.
	admin.Get("/users", s.handleAdminUsersList)
	admin.Post("/users", s.handleAdminUsersCreate)
	admin.Post("/users/:id/role", s.requireStepUp, s.handleAdminUsersRole)
	admin.Post("/users/:id/groups", s.requireStepUp, s.handleAdminUsersGroups)
	admin.Post("/users/:id/logout", s.requireStepUp, s.handleAdminUsersLogout)
	admin.Post("/users/:id/reset-2fa", s.requireStepUp, s.handleAdminUsersReset2FA)
	admin.Delete("/users/:id", s.requireStepUp, s.handleAdminUsersDelete)
	admin.Post("/users/:id/disable", s.requireStepUp, s.handleAdminUsersDisable)
	admin.Post("/users/:id/enable", s.requireStepUp, s.handleAdminUsersEnable)
	admin.Post("/users/:id/reset-link", s.requireStepUp, s.handleAdminUsersResetLink)
	admin.Post("/users/:id/profile", s.requireStepUp, s.handleAdminUsersProfile)

	// Every API token, and service tokens for other systems.
	admin.Get("/tokens", s.handleTokensList)
	admin.Post("/tokens", s.requireStepUp, s.handleTokenCreate)
	admin.Delete("/tokens/:id", s.handleTokenRevoke)

	// Webhook endpoints and their delivery log.
	admin.Get("/webhooks", s.handleAdminWebhooks)
	admin.Post("/webhooks", s.requireStepUp, s.handleAdminWebhookCreate)
	admin.Delete("/webhooks/:id", s.requireStepUp, s.handleAdminWebhookDelete)
	admin.Post("/webhooks/deliveries/:id/resend", s.handleAdminWebhookResend)

	// Forward-auth access rules as loaded, and "test a URL".
	admin.Get("/access", s.handleAdminAccess)

	// Mail deliveries and failures.
	admin.Get("/mail", s.handleAdminMail)
	admin.Post("/mail/:id/link", s.requireStepUp, s.handleAdminMailLink)

	// Cleanup runs.
	admin.Get("/cleanup", s.handleCleanupRuns)
	admin.Post("/cleanup/run", s.requireStepUp, s.handleCleanupRun)

	// Audit trail and insights.
	admin.Get("/audit", s.handleAuditList)
	admin.Get("/audit.csv", s.handleAuditCSV)
	admin.Get("/insights", s.handleInsights)
}

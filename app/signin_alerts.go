package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/mileusna/useragent"
	"github.com/uptrace/bun"

	"sessiond/jobs"
	"sessiond/models"
)

// alertWindow is how far back a device or country counts as known.
const alertWindow = 90 * 24 * time.Hour

// Sign-in flags, and the audit event that marks an unusual sign-in.
const (
	flagNewDevice  = "new-device"
	flagNewCountry = "new-country"

	eventSignInUnusual = "signin.unusual"
	mailSignInAlert    = "signin_alert"
)

// signInHook is what every session-creating transaction runs: it marks a
// sign-in from a device (browser + OS) or country not seen for the user
// in alertWindow, records that in the audit trail and queues the alert
// mail, all with the session itself. A user's very first sign-in is not
// unusual: there is nothing to compare it with.
func (s *Server) signInHook() models.SignInHook {
	return models.SignInHook{
		Before: func(ctx context.Context, tx bun.Tx, sess *models.Session) error {
			past, err := models.RecentSignIns(ctx, tx, s.db, sess.UserID, sess.CreatedAt.Add(-alertWindow))
			if err != nil || len(past) == 0 {
				return err
			}
			sess.Flags = strings.Join(unusual(sess, past), ",")
			return nil
		},
		After: func(ctx context.Context, tx bun.Tx, sess *models.Session) error {
			if sess.Flags == "" {
				return nil
			}
			uid, sid := sess.UserID, sess.ID
			ev := &models.Event{At: sess.CreatedAt, Kind: eventSignInUnusual, SessionID: &sid, UserID: &uid, ActorID: &uid,
				IP: sess.IP, UserAgent: sess.UserAgent, Detail: "flags=" + sess.Flags}
			if err := models.RecordEvent(ctx, tx, ev); err != nil {
				return err
			}
			var u models.User
			if err := tx.NewSelect().Model(&u).Where("id = ?", uid).Scan(ctx); err != nil {
				return err
			}
			if !u.SignInAlerts {
				return nil
			}
			return s.queue.EnqueueMail(ctx, tx, jobs.MailArgs{Template: mailSignInAlert, To: u.Email, UserID: uid, SessionID: sid}, sess.CreatedAt)
		},
	}
}

// unusual compares a new session with the user's recent sign-ins.
func unusual(sess *models.Session, past []models.PastSignIn) []string {
	device := deviceKey(sess.UserAgent)
	var flags []string
	if !slices.ContainsFunc(past, func(p models.PastSignIn) bool { return deviceKey(p.UserAgent) == device }) {
		flags = append(flags, flagNewDevice)
	}
	if sess.Country != "" && !slices.ContainsFunc(past, func(p models.PastSignIn) bool { return p.Country == sess.Country }) {
		flags = append(flags, flagNewCountry)
	}
	return flags
}

// deviceKey is what "the same device" means: browser and OS, not their
// versions (which change with every update).
func deviceKey(ua string) string {
	p := useragent.Parse(ua)
	if p.Name == "" {
		return ua
	}
	return p.Name + "/" + p.OS
}

// composeAlert fills the alert mail for the session the job names, with a
// "This wasn't me" link bound to that session. Nil when the session has
// already ended: there is nothing left to warn about.
func (s *Server) composeAlert(ctx context.Context, u *models.User, a jobs.MailArgs, d mailData) (*jobs.Message, error) {
	var sess models.Session
	err := s.db.NewSelect().Model(&sess).Where("s.id = ? AND s.user_id = ?", a.SessionID, u.ID).Scan(ctx)
	if isNotFound(models.Wrap(err, "alert session")) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sid := sess.ID
	raw, err := models.MintUserToken(ctx, s.db, &models.UserToken{UserID: u.ID, Purpose: models.TokenNotMe, SessionID: &sid}, models.NotMeTokenTTL, s.sessions.Now())
	if err != nil {
		return nil, err
	}
	d.Link = s.baseURL() + "/account/not-me?token=" + raw
	d.When = sess.CreatedAt.UTC().Format("Mon 2 Jan 2006 15:04 MST")
	d.Device, d.IP = describeDevice(sess.UserAgent), sess.IP
	d.Location = describeLocation(sess.Country, sess.City)
	d.Reasons = describeFlags(sess.Flags)
	return s.mail.render(mailSignInAlert, d)
}

func describeLocation(country, city string) string {
	switch {
	case country == "":
		return "unknown"
	case city == "":
		return country
	}
	return city + ", " + country
}

func describeFlags(flags string) string {
	var out []string
	for _, f := range strings.Split(flags, ",") {
		switch f {
		case flagNewDevice:
			out = append(out, "a device")
		case flagNewCountry:
			out = append(out, "a country")
		}
	}
	return strings.Join(out, " and ")
}

// describeSignInFlags marks an unusual sign-in for people: "new device,
// new country"; "" for an ordinary one.
func describeSignInFlags(flags string) string {
	return strings.ReplaceAll(strings.ReplaceAll(flags, "-", " "), ",", ", ")
}

// flagList is a session's sign-in flags for JSON: [] when none.
func flagList(flags string) []string {
	if flags == "" {
		return []string{}
	}
	return strings.Split(flags, ",")
}

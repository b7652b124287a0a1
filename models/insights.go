package models

import (
	"context"
	"time"
)

// DayFigure is one UTC day of the insights chart.
type DayFigure struct {
	Day      time.Time `json:"day"`
	SignIns  int64     `json:"signIns"`
	Active   int64     `json:"activeSessions"`
	Failures int64     `json:"failedSignIns"`
}

// TopUser is a user ranked by active session count.
type TopUser struct {
	UserID   int64  `bun:"user_id" json:"userId"`
	Email    string `bun:"email" json:"email"`
	Name     string `bun:"name" json:"name"`
	Sessions int64  `bun:"sessions" json:"sessions"`
}

// Insights is the admin dashboard's picture of the last days.
type Insights struct {
	Days      []DayFigure    `json:"days"`
	TopUsers  []TopUser      `json:"topUsers"`
	Countries []CountryCount `json:"countries"`
}

// CountryCount is how many active sessions were signed in from a country
// ("" when unknown: no GEOIP_DB, or a private address).
type CountryCount struct {
	Country  string `bun:"country" json:"country"`
	Sessions int64  `bun:"n" json:"sessions"`
}

// dayExpr is a column's UTC day as 'YYYY-MM-DD' text in each dialect
// (SQLite stores UTC text in one format, so the day is its prefix).
func (db *DB) dayExpr(col string) string {
	if db.Kind == SQLite {
		return "substr(" + col + ", 1, 10)"
	}
	return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
}

type dayCount struct {
	Day string `bun:"day"`
	N   int64  `bun:"n"`
}

// ReadInsights returns the last `days` UTC days up to now (oldest first)
// and the top users by active sessions.
//
// Sign-ins and failed sign-ins per day come from the audit trail
// (session.created and signin.failed events). "Active sessions" on a day
// counts the sessions still in the table that were live at some moment of
// that day (created before its end, expiring after its start); sessions
// already signed out, revoked or cleaned up are gone and not counted, so
// past days are a lower bound. It costs two GROUP BY passes over the
// sessions that expire after the window starts, whatever the window size.
func ReadInsights(ctx context.Context, db *DB, now time.Time, days, top int) (*Insights, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -(days - 1))
	out := &Insights{Days: make([]DayFigure, days)}
	index := map[string]int{}
	for i := range out.Days {
		d := start.AddDate(0, 0, i)
		out.Days[i].Day = d
		index[d.Format("2006-01-02")] = i
	}
	r := db.Read
	var events []struct {
		Day  string `bun:"day"`
		Kind string `bun:"kind"`
		N    int64  `bun:"n"`
	}
	err := r.NewSelect().Table("session_events").
		ColumnExpr(db.dayExpr("at")+" AS day").Column("kind").ColumnExpr("COUNT(*) AS n").
		Where("at >= ?", db.T(start)).Where("kind IN (?, ?)", EventSessionCreated, EventSignInFailed).
		GroupExpr(db.dayExpr("at")+", kind").Scan(ctx, &events)
	if err != nil {
		return nil, Wrap(err, "insights: sign-ins")
	}
	for _, e := range events {
		i, ok := index[e.Day]
		if !ok {
			continue
		}
		if e.Kind == EventSessionCreated {
			out.Days[i].SignIns = e.N
		} else {
			out.Days[i].Failures = e.N
		}
	}

	// live(D) = #{expires_at > start} − #{created on a day after D} − #{expiring on a day before D}
	// (the two subtracted sets are disjoint: nothing expires before it is created).
	live := r.NewSelect().Table("sessions").Where("expires_at > ?", db.T(start))
	total, err := live.Count(ctx)
	if err != nil {
		return nil, Wrap(err, "insights: sessions")
	}
	var created, expiring []dayCount
	if err := r.NewSelect().Table("sessions").ColumnExpr(db.dayExpr("created_at")+" AS day").ColumnExpr("COUNT(*) AS n").
		Where("expires_at > ?", db.T(start)).Where("created_at >= ?", db.T(start)).
		GroupExpr(db.dayExpr("created_at")).Scan(ctx, &created); err != nil {
		return nil, Wrap(err, "insights: created per day")
	}
	if err := r.NewSelect().Table("sessions").ColumnExpr(db.dayExpr("expires_at")+" AS day").ColumnExpr("COUNT(*) AS n").
		Where("expires_at > ?", db.T(start)).Where("expires_at < ?", db.T(today)).
		GroupExpr(db.dayExpr("expires_at")).Scan(ctx, &expiring); err != nil {
		return nil, Wrap(err, "insights: expiring per day")
	}
	createdOn, expiringOn := make([]int64, days), make([]int64, days)
	for _, c := range created {
		if i, ok := index[c.Day]; ok {
			createdOn[i] += c.N
		}
	}
	for _, c := range expiring {
		if i, ok := index[c.Day]; ok {
			expiringOn[i] += c.N
		}
	}
	var createdAfter int64
	for _, n := range createdOn {
		createdAfter += n
	}
	var expiredBefore int64
	for i := range out.Days {
		createdAfter -= createdOn[i] // now: created on a day after i
		out.Days[i].Active = int64(total) - createdAfter - expiredBefore
		expiredBefore += expiringOn[i]
	}

	// Rank by user id alone, then join the few winners to users: joining
	// first looks up the user of every live session, about three times
	// slower.
	ranked := r.NewSelect().Table("sessions").ColumnExpr("user_id, COUNT(*) AS sessions").
		Where("expires_at > ?", db.T(now)).Group("user_id").OrderExpr("sessions DESC, user_id").Limit(int64(top))
	err = r.NewSelect().TableExpr("(?) AS t", ranked).Join("JOIN users AS u ON u.id = t.user_id").
		ColumnExpr("t.user_id, u.email, u.name, t.sessions").OrderExpr("t.sessions DESC, t.user_id").
		Scan(ctx, &out.TopUsers)
	if err != nil {
		return nil, Wrap(err, "insights: top users")
	}
	err = r.NewSelect().Table("sessions").Column("country").ColumnExpr("COUNT(*) AS n").
		Where("expires_at > ?", db.T(now)).Group("country").OrderExpr("n DESC, country").Limit(20).
		Scan(ctx, &out.Countries)
	if err != nil {
		return nil, Wrap(err, "insights: countries")
	}
	if out.Countries == nil {
		out.Countries = []CountryCount{}
	}
	if out.TopUsers == nil {
		out.TopUsers = []TopUser{} // JSON [] rather than null
	}
	return out, nil
}

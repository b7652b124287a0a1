package app

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

type sortedList struct {
	Sessions []struct {
		ID        int64     `json:"id"`
		UserID    int64     `json:"userId"`
		CreatedAt time.Time `json:"createdAt"`
		Expires   time.Time `json:"expires"`
		Status    string    `json:"status"`
	} `json:"sessions"`
	NextCursor string `json:"nextCursor"`
}

func (l sortedList) ids() []int64 {
	var out []int64
	for _, s := range l.Sessions {
		out = append(out, s.ID)
	}
	return out
}

// The sort parameter orders the JSON list and the page, combines with the
// user and status filters, and its headers keep every other filter.
func TestAdminSessions_Sort_OrdersCombinesWithFiltersAndKeepsThem(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		ctx := context.Background()
		// Later-created sessions of the user expire sooner, so created and
		// expires orders differ.
		var made []int64
		for i := range 3 {
			f.a.clock.Advance(time.Minute)
			tok, _ := models.NewToken()
			s, err := f.a.srv.Sessions().CreateSession(ctx, tok, f.user.ID, f.a.clock.Now().Add(time.Duration(10-i)*time.Hour), models.Client{IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, s.ID)
		}
		uid := itoa(f.user.ID)
		var byCreated, byExpires, newest sortedList
		getJSON(t, f.ac, "/admin/sessions?status=active&userId="+uid+"&sort=created", 200, &byCreated)
		getJSON(t, f.ac, "/admin/sessions?status=active&userId="+uid+"&sort=-expires", 200, &byExpires)
		getJSON(t, f.ac, "/admin/sessions?status=active&userId="+uid, 200, &newest)
		if got := byCreated.ids(); len(got) != 4 || !slices.Equal(got[1:], made) || got[0] != f.userSession.ID {
			t.Fatalf("sort=created: %v, want %d then %v", got, f.userSession.ID, made)
		}
		want := slices.Clone(byCreated.ids())
		slices.Reverse(want)
		if !slices.Equal(newest.ids(), want) {
			t.Fatalf("default order %v, want %v", newest.ids(), want)
		}
		for i, s := range byExpires.Sessions {
			if s.UserID != f.user.ID || s.Status != "active" || (i > 0 && s.Expires.After(byExpires.Sessions[i-1].Expires)) {
				t.Fatalf("sort=-expires with filters: %+v", byExpires.Sessions)
			}
		}
		// Keyset paging follows the chosen order; its cursor is refused in another.
		var p1, p2 sortedList
		getJSON(t, f.ac, "/admin/sessions?limit=2&sort=expires", 200, &p1)
		getJSON(t, f.ac, "/admin/sessions?limit=2&sort=expires&cursor="+p1.NextCursor, 200, &p2)
		if len(p1.Sessions) != 2 || len(p2.Sessions) != 2 || p2.Sessions[0].Expires.Before(p1.Sessions[1].Expires) {
			t.Fatalf("expires pages %+v then %+v", p1.Sessions, p2.Sessions)
		}
		var e struct{ Error string }
		getJSON(t, f.ac, "/admin/sessions?limit=2&sort=-created&cursor="+p1.NextCursor, 400, &e)
		if !strings.HasPrefix(e.Error, "cursor:") || !strings.Contains(e.Error, "sort order") {
			t.Fatalf("cursor of another order: %q", e.Error)
		}
		// The page: the sorted header says so, every header keeps the user
		// and status, and the filter form carries the order.
		resp := f.ac.request("GET", "/admin/sessions?userId="+uid+"&status=active&sort=-last_seen", nil, http.Header{"Hx-Request": {"true"}})
		body := readBody(t, resp)
		for _, w := range []string{
			`<th scope="col" aria-sort="descending"><a class="sort-link" id="sort-last-seen" href="/admin/sessions?sort=last_seen&amp;status=active&amp;userId=` + uid + `"`,
			`id="sort-created" href="/admin/sessions?status=active&amp;userId=` + uid + `"`, // newest first is the default
			`id="sort-expires" href="/admin/sessions?sort=expires&amp;status=active&amp;userId=` + uid + `"`,
			`<input type="hidden" name="sort" value="-last_seen" form="session-filters">`,
		} {
			if !strings.Contains(body, w) {
				t.Errorf("page lacks %s", w)
			}
		}
		if strings.Count(body, "aria-sort=") != 1 {
			t.Errorf("want exactly one aria-sort")
		}
	})
}

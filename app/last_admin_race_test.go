package app

import (
	"net/url"
	"sync"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// Two admins demote each other through the JSON API at the same moment:
// one gets 200; the other is refused with 409 (the last-admin rule) or,
// when the winner's change committed before its request was
// authenticated, 401 (being demoted ended its sessions). Never two 200s,
// never a 500, and one active admin remains.
func TestLastActiveAdmin_TwoAdminsDemoteEachOtherAtOnceOverHTTP_OneWinsNeverA500(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admins := []*models.User{testdb.CreateUser(t, db, "a@example.test", models.RoleAdmin), testdb.CreateUser(t, db, "b@example.test", models.RoleAdmin)}
		refused := 0
		for round := range 8 {
			if _, err := db.NewUpdate().Model((*models.User)(nil)).Set("role = ?", models.RoleAdmin).
				Where("id IN (?, ?)", admins[0].ID, admins[1].ID).Exec(t.Context()); err != nil {
				t.Fatal(err)
			}
			clients := []*client{a.client(), a.client()}
			for i, c := range clients {
				c.login(admins[i].Email, "password123")
			}
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp := c.api("POST", "/admin/users/"+itoa(admins[1-i].ID)+"/role", url.Values{"role": {"user"}})
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				}()
			}
			close(start)
			wg.Wait()
			won, lost := statuses[0], statuses[1]
			if won != 200 {
				won, lost = lost, won
			}
			if won != 200 || (lost != 409 && lost != 401) {
				t.Fatalf("round %d: statuses %v, want one 200 and one 409 (or 401)", round, statuses)
			}
			refused += map[bool]int{true: 1}[lost == 409]
			if n := countRows(t, db, "users", "role = ? AND disabled_at IS NULL", models.RoleAdmin); n != 1 {
				t.Fatalf("round %d: %d active admins, want 1", round, n)
			}
		}
		t.Logf("%d of 8 rounds met in the rule (409), the rest ended the loser's session first (401)", refused)
	})
}

package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// Two admins demote (or disable) each other at the same moment: one wins,
// the other is refused with the last-admin conflict — never both, and
// never a deadlock or a 500-type error.
func TestLastActiveAdmin_TwoAdminsDemotingEachOtherAtOnce_OneStays(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		a := testdb.CreateUser(t, db, "a@example.test", models.RoleAdmin)
		b := testdb.CreateUser(t, db, "b@example.test", models.RoleAdmin)
		now := fixedNow()
		changes := map[string]func(id int64) error{
			"demote": func(id int64) error {
				_, err := models.SetUserRole(ctx, db, id, models.RoleUser, models.Audit{}, now)
				return err
			},
			"disable": func(id int64) error {
				_, err := models.SetUserDisabled(ctx, db, id, true, models.Audit{}, now)
				return err
			},
		}
		for round := range 20 {
			for name, change := range changes {
				if _, err := db.NewUpdate().Model((*models.User)(nil)).Set("role = ?", models.RoleAdmin).Set("disabled_at = NULL").
					Where("id IN (?, ?)", a.ID, b.ID).Exec(ctx); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, 2)
				for i, id := range []int64{b.ID, a.ID} { // each admin's change targets the other
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs[i] = change(id)
					}()
				}
				close(start)
				wg.Wait()
				var refused int
				for _, err := range errs {
					var ce *models.ConflictError
					switch {
					case err == nil:
					case errors.As(err, &ce):
						refused++
					default:
						t.Fatalf("round %d %s: %v, want success or the last-admin conflict", round, name, err)
					}
				}
				n, err := db.NewSelect().Model((*models.User)(nil)).Where("role = ? AND disabled_at IS NULL", models.RoleAdmin).Count(ctx)
				if err != nil || n != 1 || refused != 1 {
					t.Fatalf("round %d %s: %d active admins left, %d refused (%v); want 1 and 1", round, name, n, refused, err)
				}
			}
		}
	})
}

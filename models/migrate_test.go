package models_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

func migrationIDs(t *testing.T, d models.Dialect) []string {
	t.Helper()
	migs, err := models.Migrations(d)
	if err != nil {
		t.Fatalf("Migrations(%s): %v", d, err)
	}
	ids := make([]string, len(migs))
	for i, m := range migs {
		if m.SQL == "" {
			t.Errorf("%s migration %s is empty", d, m.ID)
		}
		ids[i] = m.ID
	}
	return ids
}

func TestMigrations_SQLiteAndPostgresHaveTheSameIDs(t *testing.T) {
	lite := migrationIDs(t, models.SQLite)
	pg := migrationIDs(t, models.Postgres)
	if len(lite) == 0 {
		t.Fatal("no SQLite migrations embedded")
	}
	if !reflect.DeepEqual(lite, pg) {
		t.Fatalf("migration ids differ:\n sqlite   %v\n postgres %v", lite, pg)
	}
}

func TestMigrate_SecondRunAppliesNothing_NonePending(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		applied, err := models.Migrate(ctx, db)
		if err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if len(applied) != 0 {
			t.Fatalf("second Migrate applied %v, want nothing", applied)
		}
		pending, err := models.PendingMigrations(ctx, db)
		if err != nil {
			t.Fatalf("PendingMigrations: %v", err)
		}
		if len(pending) != 0 {
			t.Fatalf("pending after Migrate: %v", pending)
		}
	})
}

// eachFresh runs fn on an unmigrated SQLite file and an empty PostgreSQL
// schema, given their URLs (suffix is appended to the PostgreSQL URL).
func eachFresh(t *testing.T, pgSuffix string, fn func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite:"+filepath.Join(t.TempDir(), "fresh.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, testdb.PostgresURL(t)+pgSuffix) })
}

func openURL(t *testing.T, url string) *models.DB {
	t.Helper()
	db, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrate_FreshDatabase_AppliesEveryMigrationOnceInOrder(t *testing.T) {
	eachFresh(t, "", func(t *testing.T, url string) {
		ctx := context.Background()
		db := openURL(t, url)
		want := migrationIDs(t, db.Kind)
		pending, err := models.PendingMigrations(ctx, db)
		if err != nil {
			t.Fatalf("PendingMigrations before: %v", err)
		}
		if !reflect.DeepEqual(pending, want) {
			t.Fatalf("pending before = %v, want %v", pending, want)
		}
		applied, err := models.Migrate(ctx, db)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if !reflect.DeepEqual(applied, want) {
			t.Fatalf("applied = %v, want %v", applied, want)
		}
		again, err := models.Migrate(ctx, db)
		if err != nil || len(again) != 0 {
			t.Fatalf("second Migrate = %v, %v; want nothing applied", again, err)
		}
		if pending, err = models.PendingMigrations(ctx, db); err != nil || len(pending) != 0 {
			t.Fatalf("pending after = %v, %v; want none", pending, err)
		}
		if n := countRows(t, db, "SELECT COUNT(*) FROM schema_migrations"); n != len(want) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, len(want))
		}
	})
}

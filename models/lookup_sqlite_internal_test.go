package models

import (
	"database/sql/driver"
	"strings"
	"testing"
)

// A column of an unexpected type (SQLite lets any column hold any type) is
// an error naming the column, never a panic or a zero value.
func TestScanLookup_UnexpectedType_IsAnError(t *testing.T) {
	good := [8]driver.Value{int64(7), int64(3), "2026-01-02 03:04:05+00:00", "2026-01-01 00:00:00+00:00",
		"2026-01-01 00:00:00+00:00", "a@example.com", "A", RoleUser}
	var s Session
	var u User
	if err := scanLookup(&good, &s, &u); err != nil || s.ID != 7 || s.UserID != 3 || u.Email != "a@example.com" || s.ExpiresAt.Day() != 2 {
		t.Fatalf("good row: %v, %+v %+v", err, s, u)
	}
	for col, bad := range map[int]driver.Value{0: "7", 2: int64(5), 6: []byte("A"), 7: nil} {
		v := good
		v[col] = bad
		err := scanLookup(&v, &s, &u)
		if err == nil || !strings.Contains(err.Error(), "column") {
			t.Errorf("column %d holding %T: err = %v, want an error naming the column", col+1, bad, err)
		}
	}
	v := good
	v[4] = "yesterday"
	if err := scanLookup(&v, &s, &u); err == nil {
		t.Error("an unreadable time: no error")
	}
}

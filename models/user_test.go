package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestCreateUser_InvalidInput_ValidationErrorNamingField_NothingStored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		ok := models.NewUser{Email: "valid@example.com", Name: "Valid", Role: models.RoleUser, Password: "password123"}
		for _, tc := range []struct {
			name  string
			edit  func(n *models.NewUser)
			field string
		}{
			{"empty email", func(n *models.NewUser) { n.Email = "" }, "email"},
			{"no at sign", func(n *models.NewUser) { n.Email = "not-an-email" }, "email"},
			{"no domain", func(n *models.NewUser) { n.Email = "user@" }, "email"},
			{"display name form", func(n *models.NewUser) { n.Email = "Bob <bob@example.com>" }, "email"},
			{"too long email", func(n *models.NewUser) { n.Email = strings.Repeat("a", 250) + "@example.com" }, "email"},
			{"empty name", func(n *models.NewUser) { n.Name = "   " }, "name"},
			{"bad role", func(n *models.NewUser) { n.Role = "root" }, "role"},
			{"empty password", func(n *models.NewUser) { n.Password = "" }, "password"},
			{"7-byte password", func(n *models.NewUser) { n.Password = "1234567" }, "password"},
			{"1025-byte password", func(n *models.NewUser) { n.Password = strings.Repeat("x", models.MaxPasswordBytes+1) }, "password"},
			{"1 MB password", func(n *models.NewUser) { n.Password = strings.Repeat("x", 1<<20) }, "password"},
		} {
			n := ok
			tc.edit(&n)
			_, err := models.CreateUser(ctx, db, n, time.Now())
			var ve *models.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("%s: err = %v, want *ValidationError on %s", tc.name, err, tc.field)
			}
		}
		if n := countRows(t, db, "SELECT COUNT(*) FROM users"); n != 0 {
			t.Fatalf("%d users stored from invalid input", n)
		}
	})
}

func TestCreateUser_NormalizesEmail_DefaultRoleUser_PasswordEdgeLengthsAccepted(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		u, err := models.CreateUser(ctx, db, models.NewUser{Email: "  Mixed.Case@Example.COM ", Name: " Mixed ", Password: "12345678"}, time.Now())
		if err != nil {
			t.Fatalf("CreateUser with an 8-byte password: %v", err)
		}
		if u.ID == 0 || u.Email != "mixed.case@example.com" || u.Name != "Mixed" || u.Role != models.RoleUser {
			t.Fatalf("user = %+v, want normalized email and name, role user", u)
		}
		found, err := models.FindUserByEmail(ctx, db, "MIXED.case@example.com")
		if err != nil || found.ID != u.ID {
			t.Fatalf("FindUserByEmail = %+v, %v", found, err)
		}
		long := strings.Repeat("p", models.MaxPasswordBytes)
		if _, err := models.CreateUser(ctx, db, models.NewUser{Email: "max@example.com", Name: "Max", Password: long}, time.Now()); err != nil {
			t.Fatalf("CreateUser with a %d-byte password: %v", models.MaxPasswordBytes, err)
		}
	})
}

func TestCreateUser_DuplicateEmailAnyCase_Conflict(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		testdb.CreateUser(t, db, "taken@example.com", models.RoleUser)
		for _, email := range []string{"taken@example.com", "TAKEN@Example.com", " Taken@example.COM "} {
			_, err := models.CreateUser(ctx, db, models.NewUser{Email: email, Name: "Again", Password: "password123"}, time.Now())
			if !errors.Is(err, models.ErrConflict) {
				t.Errorf("CreateUser(%q): err = %v, want ErrConflict", email, err)
			}
		}
		if n := countRows(t, db, "SELECT COUNT(*) FROM users"); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
	})
}

func TestSetUserRole_ChangesRoleAndEndsAllTheUsersSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		admin := testdb.CreateUser(t, db, "demote@example.com", models.RoleAdmin)
		testdb.CreateUser(t, db, "stays@example.com", models.RoleAdmin) // the last active admin cannot be demoted
		other := insertUsers(t, db, "role", 1)[0]
		tok, _ := createSession(t, m, admin.ID, clock.Now().Add(time.Hour))
		createSession(t, m, admin.ID, clock.Now().Add(time.Hour))
		_, keep := createSession(t, m, other.ID, clock.Now().Add(time.Hour))

		n, err := models.SetUserRole(ctx, db, admin.ID, models.RoleUser, models.Audit{ActorID: other.ID}, clock.Now())
		if err != nil || n != 2 {
			t.Fatalf("SetUserRole = %d, %v; want 2 sessions ended", n, err)
		}
		u, err := models.FindUser(ctx, db, admin.ID)
		if err != nil || u.Role != models.RoleUser {
			t.Fatalf("role after SetUserRole = %+v, %v", u, err)
		}
		_, err = m.Authenticate(ctx, tok, theClient)
		wantNotFound(t, err, "Authenticate with a session ended by the role change")
		if _, ok := sessionRow(t, db, keep.ID); !ok {
			t.Fatal("another user's session ended")
		}
		if evs := events(t, db, models.EventUserRoleChanged); len(evs) != 1 || evs[0].Detail != "role=user sessions=2" {
			t.Fatalf("user.role_changed events = %+v", evs)
		}

		var ve *models.ValidationError
		if _, err := models.SetUserRole(ctx, db, admin.ID, "root", models.Audit{}, clock.Now()); !errors.As(err, &ve) {
			t.Fatalf("SetUserRole(root): err = %v, want *ValidationError", err)
		}
		_, err = models.SetUserRole(ctx, db, 999999, models.RoleAdmin, models.Audit{}, clock.Now())
		wantNotFound(t, err, "SetUserRole(unknown user)")
	})
}

func TestSetUserPassword_NewPasswordWorks_EndsOtherSessions_KeepsCurrent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "pw@example.com", models.RoleUser)
		other := insertUsers(t, db, "pwo", 1)[0]
		curTok, cur := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		oldTok, _ := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		_, keep := createSession(t, m, other.ID, clock.Now().Add(time.Hour))

		n, err := models.SetUserPassword(ctx, db, u.ID, "a new passphrase", cur.ID, models.Audit{ActorID: u.ID}, clock.Now())
		if err != nil || n != 2 {
			t.Fatalf("SetUserPassword = %d, %v; want 2 other sessions ended", n, err)
		}
		if _, err := m.Authenticate(ctx, curTok, theClient); err != nil {
			t.Fatalf("the kept session stopped working: %v", err)
		}
		_, err = m.Authenticate(ctx, oldTok, theClient)
		wantNotFound(t, err, "Authenticate with another session after a password change")
		if _, ok := sessionRow(t, db, keep.ID); !ok {
			t.Fatal("another user's session ended")
		}
		got, err := models.FindUser(ctx, db, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !models.VerifyPassword(got.PasswordHash, "a new passphrase") || models.VerifyPassword(got.PasswordHash, "password123") {
			t.Fatal("after SetUserPassword the new password must verify and the old must not")
		}

		if n, err := models.SetUserPassword(ctx, db, u.ID, "another passphrase", 0, models.Audit{}, clock.Now()); err != nil || n != 1 {
			t.Fatalf("SetUserPassword keeping none = %d, %v; want 1", n, err)
		}
		var ve *models.ValidationError
		if _, err := models.SetUserPassword(ctx, db, u.ID, "short", 0, models.Audit{}, clock.Now()); !errors.As(err, &ve) {
			t.Fatalf("SetUserPassword(short): err = %v, want *ValidationError", err)
		}
		_, err = models.SetUserPassword(ctx, db, 999999, "long enough", 0, models.Audit{}, clock.Now())
		wantNotFound(t, err, "SetUserPassword(unknown user)")
	})
}

func TestVerifyPassword_RightWrongAnd64CharPasswords_NoTrimmingOrTruncation(t *testing.T) {
	pw64 := strings.Repeat("0123456789abcdef", 4)
	hash, err := models.HashPassword(pw64)
	if err != nil {
		t.Fatalf("HashPassword(64 chars): %v", err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id with m=19 MiB, t=2, p=1", hash)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{pw64, true},
		{pw64[:63], false},
		{pw64 + "0", false},
		{pw64 + " ", false},
		{" " + pw64, false},
		{strings.ToUpper(pw64), false},
		{"", false},
	} {
		if got := models.VerifyPassword(hash, tc.pw); got != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
	again, err := models.HashPassword(pw64)
	if err != nil || again == hash {
		t.Fatalf("two hashes of one password are equal (salt not unique): %v", err)
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=0,t=2,p=1$AAAA$AAAA", "$bcrypt$x$y$z$w"} {
		if models.VerifyPassword(bad, pw64) {
			t.Errorf("VerifyPassword accepted malformed hash %q", bad)
		}
	}
}

func TestVerifyPassword_StoredUser_TrueForPasswordFalseOtherwise(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		u := testdb.CreateUser(t, db, "verify@example.com", models.RoleUser)
		got, err := models.FindUserByEmail(ctx, db, u.Email)
		if err != nil {
			t.Fatal(err)
		}
		if !models.VerifyPassword(got.PasswordHash, "password123") {
			t.Fatal("the user's password does not verify")
		}
		if models.VerifyPassword(got.PasswordHash, "password124") {
			t.Fatal("a wrong password verifies")
		}
		if strings.Contains(strings.Join(allText(t, db, "users"), "\n"), "password123") {
			t.Fatal("the plain password is stored")
		}
	})
}

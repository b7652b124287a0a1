package app

import (
	"encoding/json"
	"testing"
	"time"

	"sessiond/models"
)

// meJSON is the answer of /api/me as encoding/json writes it: what
// appendMeJSON must match.
type meJSON struct {
	User      apiUser   `json:"user"`
	SessionID int64     `json:"sessionId"`
	Expires   time.Time `json:"expires"`
	ExpiresIn int64     `json:"expiresIn"`
	AMR       []string  `json:"amr"`
}

// TestMeJSON_MatchesEncodingJSON: the hand-written /api/me answer is
// byte for byte what encoding/json writes for the same values.
func TestMeJSON_MatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 0, 0, 123456000, time.UTC)
	for _, name := range []string{
		"Ada Lovelace", "", `Grace "Amazing" \ Hopper`, "<script>alert(1)</script> & co",
		"tab\there\nnew\rline\x00\x01\x1f\x7f\b\f", "Zoë 🚀 Ω", "bad \xff\xfe utf8 \xc3", "line\u2028sep\u2029para",
	} {
		sess := &models.Session{ID: 42, UserID: 7, ExpiresAt: now.Add(36 * time.Hour), AMR: "pwd,otp",
			User: &models.User{ID: 7, Name: name, Email: "a+b@example.com", Role: models.RoleAdmin}}
		want, err := json.Marshal(meJSON{User: userJSON(sess.User), SessionID: sess.ID, Expires: sess.ExpiresAt,
			ExpiresIn: int64(sess.ExpiresAt.Sub(now).Seconds()), AMR: sess.AMR.List()})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendMeJSON(nil, sess, now); string(got) != string(want) {
			t.Errorf("name %q:\n got %s\nwant %s", name, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\"\\", "\x00\x1f", "\xff", "\u2028", "é🚀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}

// BenchmarkMeJSON weighs the hand-written /api/me answer against the plain
// form, encoding/json (what c.JSON runs).
func BenchmarkMeJSON(b *testing.B) {
	now := time.Now()
	sess := &models.Session{ID: 42, UserID: 7, ExpiresAt: now.Add(36 * time.Hour), AMR: "pwd,otp",
		User: &models.User{ID: 7, Name: "Ada Lovelace", Email: "ada@example.com", Role: models.RoleUser}}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		var buf [256]byte
		for b.Loop() {
			_ = appendMeJSON(buf[:0], sess, now)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(meJSON{User: userJSON(sess.User), SessionID: sess.ID, Expires: sess.ExpiresAt,
				ExpiresIn: int64(sess.ExpiresAt.Sub(now).Seconds()), AMR: sess.AMR.List()})
		}
	})
}

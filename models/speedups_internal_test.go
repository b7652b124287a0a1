package models

import (
	"testing"
	"time"
)

// BenchmarkStoredTimeParse weighs parseStoredTime against the plain form,
// time.Parse with the one format SQLite times are stored in.
func BenchmarkStoredTimeParse(b *testing.B) {
	s := time.Date(2026, 12, 6, 17, 45, 1, 123456000, time.UTC).Format(sqliteTimeFormat)
	b.Run("hand-written", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseStoredTime(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("time.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.Parse(sqliteTimeFormat, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestAccessLine_MatchesSlog holds the hand-appended access line to what
// slog's own handlers write for the same record, in both formats, for
// plain lines (appended by hand) and lines slog must quote (handed to it).
func TestAccessLine_MatchesSlog(t *testing.T) {
	base := accessLine{Time: time.Date(2026, 12, 6, 19, 56, 48, 123456789, time.UTC), RequestID: "Zm9vYmFyYmF6cXV4",
		Method: "GET", Path: "/api/me", Status: 200, DurationMS: 0.012, UserID: 42, IP: "127.0.0.1"}
	cases := map[string]func(l *accessLine){
		"plain":              func(*accessLine) {},
		"zone offset":        func(l *accessLine) { l.Time = l.Time.In(time.FixedZone("x", -(3*3600 + 30*60))) },
		"whole millisecond":  func(l *accessLine) { l.Time = l.Time.Truncate(time.Second); l.DurationMS = 1 },
		"long request":       func(l *accessLine) { l.DurationMS = 1234567.891 },
		"huge duration":      func(l *accessLine) { l.DurationMS = 12345678901.5 },
		"zero duration":      func(l *accessLine) { l.DurationMS = 0 },
		"ipv6":               func(l *accessLine) { l.IP = "2001:db8::1" },
		"no user":            func(l *accessLine) { l.UserID = 0 },
		"path with space":    func(l *accessLine) { l.Path = "/a b" },
		"path with quote":    func(l *accessLine) { l.Path = `/a"b\c` },
		"path with equals":   func(l *accessLine) { l.Path = "/a=b" },
		"path with unicode":  func(l *accessLine) { l.Path = "/café\u2028" },
		"path with control":  func(l *accessLine) { l.Path = "/a\x01" },
		"empty method":       func(l *accessLine) { l.Method = "" },
		"html in path":       func(l *accessLine) { l.Path = "/<script>&" },
		"year beyond 9999":   func(l *accessLine) { l.Time = l.Time.AddDate(9000, 0, 0) },
		"status unavailable": func(l *accessLine) { l.Status = 503 },
	}
	for name, change := range cases {
		for _, format := range []string{"text", "json"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				l := base
				change(&l)
				handed := strings.HasPrefix(name, "path with") || name == "empty method" || strings.HasPrefix(name, "year")
				if l.plain() == handed {
					t.Fatalf("plain() = %v: this case should be %s", l.plain(), map[bool]string{true: "handed to slog", false: "appended by hand"}[handed])
				}
				var ours, theirs bytes.Buffer
				l.write(context.Background(), newLogger(slog.LevelInfo, format, &ours).Handler())
				opts := &slog.HandlerOptions{Level: slog.LevelInfo}
				var h slog.Handler = slog.NewTextHandler(&theirs, opts)
				if format == "json" {
					h = slog.NewJSONHandler(&theirs, opts)
				}
				r := slog.NewRecord(l.Time, slog.LevelInfo, "request", 0)
				r.AddAttrs(slog.String("request_id", l.RequestID), slog.String("method", l.Method), slog.String("path", l.Path),
					slog.Int("status", l.Status), slog.Float64("duration_ms", l.DurationMS),
					slog.Int64("user_id", l.UserID), slog.String("ip", l.IP))
				_ = h.Handle(context.Background(), r)
				if ours.String() != theirs.String() {
					t.Errorf("access line differs from slog's:\nours:   %q\nslog's: %q", ours.String(), theirs.String())
				}
			})
		}
	}
}

// BenchmarkAccessLine: the hand-appended line against slog's handler
// writing the same record, into the same log buffer.
func BenchmarkAccessLine(b *testing.B) {
	l := accessLine{Time: time.Now(), RequestID: newRequestID(), Method: "GET", Path: "/api/me", Status: 200,
		DurationMS: 0.012, UserID: 42, IP: "127.0.0.1"}
	for _, format := range []string{"text", "json"} {
		logs := newLogBuffer(discard{}, time.Second)
		b.Cleanup(func() { _ = logs.Close() })
		h := newLogger(slog.LevelInfo, format, logs).Handler()
		b.Run("by-hand-"+format, func(b *testing.B) {
			for b.Loop() {
				l.write(context.Background(), h)
			}
		})
		b.Run("slog-"+format, func(b *testing.B) {
			inner := h.(*logHandler).Handler
			for b.Loop() {
				l.write(context.Background(), inner)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

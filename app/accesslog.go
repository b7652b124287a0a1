package app

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// accessLog writes one line per request. Errors are rendered here (through
// the error handler) so the logged status is the one sent.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	end := time.Now()
	took := end.Sub(start)
	s.observe(c, took)
	if !s.log.Enabled(c.UserContext(), slog.LevelInfo) {
		return nil // LOG_LEVEL=warn: no line, and none of its allocations
	}
	line := accessLine{Time: end, RequestID: requestID(c), Method: c.Method(), Path: c.Path(),
		Status: c.Response().StatusCode(), DurationMS: float64(took.Microseconds()) / 1000, IP: s.clientIP(c)}
	if sess := currentSession(c); sess != nil {
		line.UserID = sess.UserID
	}
	line.write(c.UserContext(), s.log.Handler())
	return nil
}

// accessLine is the line every request writes.
type accessLine struct {
	Time                        time.Time
	RequestID, Method, Path, IP string
	Status                      int
	DurationMS                  float64
	UserID                      int64
}

// write hands the line to h. Through sessiond's own handler (logHandler)
// a line of plain values is appended by hand, byte for byte what slog
// would write, in a fraction of slog's time: it is written on every
// request. Anything else — a value that needs quoting, another handler —
// goes through slog.
func (l accessLine) write(ctx context.Context, h slog.Handler) {
	if lh, ok := h.(*logHandler); ok && l.plain() {
		bp := lineBuffers.Get().(*[]byte)
		*bp = l.append((*bp)[:0], lh.json)
		_, _ = lh.w.Write(*bp)
		lineBuffers.Put(bp)
		return
	}
	// A record handed straight to the handler: Logger would walk the stack
	// for the caller's location, which no line shows.
	r := slog.NewRecord(l.Time, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("request_id", l.RequestID), slog.String("method", l.Method), slog.String("path", l.Path),
		slog.Int("status", l.Status), slog.Float64("duration_ms", l.DurationMS),
		slog.Int64("user_id", l.UserID), slog.String("ip", l.IP))
	_ = h.Handle(ctx, r)
}

var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// plain: every string is one slog writes as it is in both formats (no
// quoting, no escaping), and the time is one RFC 3339 can write.
func (l accessLine) plain() bool {
	y := l.Time.Year()
	return plainValue(l.RequestID) && plainValue(l.Method) && plainValue(l.Path) && plainValue(l.IP) &&
		y >= 0 && y < 10000 && l.DurationMS < 1e20
}

func plainValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f || b == '"' || b == '\\' || b == '=' {
			return false
		}
	}
	return s != ""
}

// append writes the line as slog's TextHandler or JSONHandler would.
func (l accessLine) append(b []byte, json bool) []byte {
	if json {
		b = append(b, `{"time":"`...)
		b = l.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"INFO","msg":"request","request_id":"`...)
		b = append(b, l.RequestID...)
		b = append(b, `","method":"`...)
		b = append(b, l.Method...)
		b = append(b, `","path":"`...)
		b = append(b, l.Path...)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(l.Status), 10)
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendFloat(b, l.DurationMS, 'f', -1, 64) // encoding/json's form below 1e21
		b = append(b, `,"user_id":`...)
		b = strconv.AppendInt(b, l.UserID, 10)
		b = append(b, `,"ip":"`...)
		b = append(b, l.IP...)
		return append(b, "\"}\n"...)
	}
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, l.Time)
	b = append(b, " level=INFO msg=request request_id="...)
	b = append(b, l.RequestID...)
	b = append(b, " method="...)
	b = append(b, l.Method...)
	b = append(b, " path="...)
	b = append(b, l.Path...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.Status), 10)
	b = append(b, " duration_ms="...)
	b = strconv.AppendFloat(b, l.DurationMS, 'g', -1, 64)
	b = append(b, " user_id="...)
	b = strconv.AppendInt(b, l.UserID, 10)
	b = append(b, " ip="...)
	b = append(b, l.IP...)
	return append(b, '\n')
}

// appendRFC3339Millis is slog's text time: RFC 3339 with exactly three
// digits of milliseconds (log/slog's function of the same name).
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// logHandler is slog's text or JSON handler, and the writer below it, so
// that the access line can be appended by hand (accessLine.write).
type logHandler struct {
	slog.Handler
	w    io.Writer
	json bool
}

func newLogger(level slog.Leveler, format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(&logHandler{slog.NewJSONHandler(w, opts), w, true})
	}
	return slog.New(&logHandler{slog.NewTextHandler(w, opts), w, false})
}

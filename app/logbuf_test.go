package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"sessiond/models/testdb"
)

// countingWriter records each write it is handed.
type countingWriter struct {
	testdb.SyncBuffer
	mu     sync.Mutex
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	w.mu.Unlock()
	return w.SyncBuffer.Write(p)
}

// Lines logged from many goroutines reach the writer whole, in far fewer
// writes than lines; the periodic flush delivers them without a Close, and
// Close delivers the rest, so a clean shutdown loses none.
func TestLogBuffer_LinesArriveWholeInFewWrites_FlushedPeriodicallyAndOnClose(t *testing.T) {
	w := &countingWriter{}
	b := newLogBuffer(w, 50*time.Millisecond)
	log := slog.New(slog.NewTextHandler(b, nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				log.LogAttrs(context.Background(), slog.LevelInfo, "request", slog.Int("g", g), slog.Int("i", i))
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(w.String(), "\n") < 4000 {
		if time.Now().After(deadline) {
			t.Fatalf("the periodic flush delivered %d of 4000 lines", strings.Count(w.String(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.Info("last words")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	if !strings.HasSuffix(out, "msg=\"last words\"\n") {
		t.Fatalf("the line logged just before Close is missing:\n%.200s", out[max(0, len(out)-200):])
	}
	for g := range 8 {
		for _, i := range []int{0, 499} {
			if !strings.Contains(out, fmt.Sprintf("msg=request g=%d i=%d\n", g, i)) {
				t.Fatalf("line g=%d i=%d missing or split", g, i)
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "time=") {
			t.Fatalf("a line was split: %q", line)
		}
	}
	if w.writes > 4001/10 {
		t.Fatalf("%d writes for 4001 lines: the buffer did not batch", w.writes)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A line longer than the buffer goes straight through, after what was
// buffered before it.
func TestLogBuffer_LongLine_WrittenInOrder(t *testing.T) {
	w := &countingWriter{}
	b := newLogBuffer(w, time.Hour)
	_, _ = b.Write([]byte("first\n"))
	long := strings.Repeat("x", logBufferSize+10) + "\n"
	_, _ = b.Write([]byte(long))
	_ = b.Close()
	if w.String() != "first\n"+long {
		t.Fatalf("out of order or lost: %d bytes", len(w.String()))
	}
}
